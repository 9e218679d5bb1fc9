// Package proc starts a jwtgate binary (a server, or the bench's baseline)
// as a child process on a free loopback port and waits until it answers.
// The port is bound here and handed over as an open socket (LISTEN_FDS=1,
// file descriptor 3, as systemd does), so no other process can take it
// between its choice and its use.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Options say how to start a child.
type Options struct {
	Args           []string
	Env            []string // added to this process's environment
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Ready is the path polled until it answers 200; default /healthz.
	Ready string
	// Timeout bounds the wait for Ready; default 30 s.
	Timeout time.Duration
}

// Child is a running child process.
type Child struct {
	// Addr is the host:port it listens on; URL is http://Addr.
	Addr, URL string
	cmd       *exec.Cmd
	done      chan struct{}
	err       error // of Wait, once done is closed
}

// Start runs bin with o.Args listening on a free port of 127.0.0.1, and
// waits until it is ready. A child that exits first, or is not ready in
// time, is an error (and is killed).
func Start(ctx context.Context, bin string, o Options) (*Child, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &Child{Addr: l.Addr().String(), done: make(chan struct{})}
	c.URL = "http://" + c.Addr
	c.cmd = exec.Command(bin, o.Args...)
	c.cmd.Env = append(append(os.Environ(), o.Env...), "LISTEN_FDS=1", "LISTEN_PID=")
	c.cmd.ExtraFiles = []*os.File{f}
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	if err := c.waitReady(ctx, o); err != nil {
		c.Kill() //nolint:errcheck // it failed already
		return nil, err
	}
	return c, nil
}

func (c *Child) waitReady(ctx context.Context, o Options) error {
	path, timeout := o.Ready, o.Timeout
	if path == "" {
		path = "/healthz"
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(c.URL + path); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before it was ready: %v", c.cmd.Path, c.err)
		case <-deadline.C:
			return fmt.Errorf("%s not ready after %v", c.cmd.Path, timeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Wait waits for the child to exit and returns how it ended.
func (c *Child) Wait() error {
	<-c.done
	return c.err
}

// Stop sends SIGTERM and waits at most grace for a clean exit, then kills.
func (c *Child) Stop(grace time.Duration) error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-c.done:
		return c.err
	case <-time.After(grace):
		c.Kill() //nolint:errcheck // reported below
		return fmt.Errorf("%s did not exit within %v of SIGTERM", c.cmd.Path, grace)
	}
}

// Kill sends SIGKILL and waits until the child is gone. Killing a child
// that has exited is harmless.
func (c *Child) Kill() error {
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-c.done
	return nil
}
