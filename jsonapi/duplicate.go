package jsonapi

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// duplicateProperty returns the first property, at any depth, that a JSON
// value gives twice (as a field name such as options.ApplicationName), or "".
// It streams: data is valid JSON, so its depth is bounded by the decoder.
func duplicateProperty(data []byte) string {
	type frame struct {
		obj     bool
		wantKey bool
		keys    map[string]bool
		name    string // this container's field name
		member  string // the current member's field name
		index   int
	}
	var stack []*frame
	join := func(base, key string) string {
		if key == "" {
			key = `""` // an empty name must still name something: "" means no duplicate
		}
		if base == "" {
			return key
		}
		return base + "." + key
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.wantKey {
			if d, ok := t.(json.Delim); !ok || d != '}' {
				k, _ := t.(string)
				if top.keys[k] {
					return join(top.name, k)
				}
				top.keys[k] = true
				top.member, top.wantKey = join(top.name, k), false
				continue
			}
		}
		// A value, or the end of a container.
		name := ""
		if top != nil {
			if top.obj {
				name = top.member
			} else {
				name = top.name + "[" + strconv.Itoa(top.index) + "]"
			}
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, wantKey: true, keys: map[string]bool{}, name: name})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{name: name})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return ""
			}
			top = stack[len(stack)-1]
		}
		// top has just been given one complete value.
		if top == nil {
			return ""
		}
		if top.obj {
			top.wantKey = true
		} else {
			top.index++
		}
	}
}
