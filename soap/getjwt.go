package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/soap/useradminws"
)

// getJWTRequest is the generated GetJWT element with two fields shadowed:
// expiresAt is kept as text so that core's one parsing rule applies to every
// protocol, and maxCredits understands xsi:nil.
type getJWTRequest struct {
	useradminws.GetJWT
	ExpiresAt  string      `xml:"expiresAt"`
	MaxCredits nillableInt `xml:"maxCredits"`
}

// nillableInt is an xsd:int that may be xsi:nil (or absent, or empty).
type nillableInt struct{ v *int64 }

func (n *nillableInt) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var text string
	if err := d.DecodeElement(&text, &start); err != nil {
		return err
	}
	for _, a := range start.Attr {
		if a.Name.Space == nsXSI && a.Name.Local == "nil" && (a.Value == "true" || a.Value == "1") {
			n.v = nil
			return nil
		}
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	v, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		return clientFault("maxCredits %q is not an xsd:int", text)
	}
	n.v = &v
	return nil
}

func (h *Handler) getJWT(r *http.Request, env *envelope) ([]byte, error) {
	var in getJWTRequest
	if err := env.dec.DecodeElement(&in, &env.op); err != nil {
		var f *faultError
		if errors.As(err, &f) {
			return nil, f
		}
		return nil, malformed(err)
	}
	if err := env.finish(); err != nil {
		return nil, err
	}
	req := &core.GetJWTRequest{
		Username:   in.Username,
		Password:   in.Password,
		ClientIP:   in.ClientIp,
		ExpiresAt:  in.ExpiresAt,
		MaxCredits: in.MaxCredits.v,
		ClientAddr: h.ClientAddr(r),
	}
	if in.AllowedMethods != nil {
		for _, m := range in.AllowedMethods.Astring {
			if m == nil {
				req.AllowedMethods = append(req.AllowedMethods, "")
				continue
			}
			req.AllowedMethods = append(req.AllowedMethods, *m)
		}
	}
	if in.Options != nil {
		for _, o := range in.Options.Option {
			if o != nil {
				req.Options = append(req.Options, core.Option{Name: o.Name, Value: o.Value})
			}
		}
	}
	res, err := h.Service.GetJWT(r.Context(), req)
	if core.ErrorCode(err) == core.EINTERNAL {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`<GetJWTResponse xmlns="` + Namespace + `"><GetJWTResult>`)
	if err != nil {
		writeStatus(&b, false, core.ErrorMessage(err), 0)
	} else {
		writeStatus(&b, true, "", res.CreditsRemaining)
		b.WriteString(`<Jwt>`)
		b.WriteString(res.JWT) // base64url and dots: nothing to escape
		b.WriteString(`</Jwt>`)
	}
	b.WriteString(`</GetJWTResult></GetJWTResponse>`)
	return b.Bytes(), nil
}

// writeStatus writes the Status element every result starts with.
// ErrorMessage is omitted (minOccurs=0) on success.
func writeStatus(b *bytes.Buffer, ok bool, msg string, credits int64) {
	b.WriteString(`<Status><Success>` + strconv.FormatBool(ok) + `</Success>`)
	if msg != "" {
		b.WriteString(`<ErrorMessage>`)
		xml.EscapeText(b, []byte(msg)) //nolint:errcheck // a bytes.Buffer does not fail
		b.WriteString(`</ErrorMessage>`)
	}
	b.WriteString(`<CreditsRemaining>` + strconv.FormatInt(credits, 10) + `</CreditsRemaining></Status>`)
}
