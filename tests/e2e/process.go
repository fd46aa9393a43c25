package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// Process is a child process a test or benchmark started and stops.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	// Logs holds what the process wrote to stdout and stderr.
	Logs *SyncBuffer
	done chan error
}

// StartProcess starts bin with args and waits until readyURL answers 200.
// It returns an error, with the process' output, when the process exits
// before it is ready or is not ready within timeout.
func StartProcess(name, bin, readyURL string, timeout time.Duration, args ...string) (*Process, error) {
	return StartProcessWith(http.DefaultClient, name, bin, readyURL, timeout, args...)
}

// StartProcessWith is StartProcess asking client whether the process is
// ready, such as a client with the certificates of an https readyURL.
func StartProcessWith(client *http.Client, name, bin, readyURL string, timeout time.Duration, args ...string) (*Process, error) {
	p := &Process{Name: name, Cmd: exec.Command(bin, args...), Logs: &SyncBuffer{}, done: make(chan error, 1)}
	p.Cmd.Stdout = p.Logs
	p.Cmd.Stderr = p.Logs
	if err := p.Cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.done <- p.Cmd.Wait() }()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("%s exited before it was ready (%v):\n%s", name, err, p.Logs.String())
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s not ready after %s:\n%s", name, timeout, p.Logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop sends SIGINT and waits for the process to exit, killing it after
// 30 s.
func (p *Process) Stop() {
	select {
	case err := <-p.done:
		p.done <- err
		return
	default:
	}
	_ = p.Cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(30 * time.Second):
		_ = p.Cmd.Process.Kill()
	}
}
