package upstream

import (
	"fmt"
	"mime"
	"net/http"

	"github.com/klauspost/compress/s2"

	"github.com/pushguard/pushguard/validator"
)

// The proto= Content-Type parameters of the two remote-write messages.
const (
	RW1Message = validator.RW1Message
	RW2Message = validator.RW2Message
)

// Content-Type and X-Prometheus-Remote-Write-Version of each version, as
// Prometheus sends them.
const (
	rw1ContentType = "application/x-protobuf"
	rw2ContentType = "application/x-protobuf;proto=" + RW2Message
	rw1Version     = "0.1.0"
	rw2Version     = "2.0.0"
)

// Remote-write versions an upstream can be told to receive.
const (
	VersionAuto = "auto"
	Version1    = "1"
	Version2    = "2"
)

// IsRW2 reports whether the headers of a request say it carries remote
// write 2.0.
func IsRW2(h http.Header) bool {
	ct := h.Get("Content-Type")
	if ct == "" {
		return false
	}
	_, params, err := mime.ParseMediaType(ct)
	return err == nil && params["proto"] == RW2Message
}

// setVersionHeaders makes h describe a snappy body of the given version.
func setVersionHeaders(h http.Header, rw2 bool) {
	h.Set("Content-Encoding", "snappy")
	if rw2 {
		h.Set("Content-Type", rw2ContentType)
		h.Set("X-Prometheus-Remote-Write-Version", rw2Version)
		return
	}
	h.Set("Content-Type", rw1ContentType)
	h.Set("X-Prometheus-Remote-Write-Version", rw1Version)
}

// ToRW1 returns a copy of a remote write 2.0 request converted to 1.0, for
// an upstream that only speaks 1.0.
func (r *Request) ToRW1() (*Request, error) {
	pb, err := r.DecodedBody()
	if err != nil {
		return nil, err
	}
	rw1, err := validator.RW2ToRW1(pb, nil)
	if err != nil {
		return nil, fmt.Errorf("converting remote write 2.0 to 1.0: %w", err)
	}
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	setVersionHeaders(h, false)
	return &Request{Tenant: r.Tenant, Header: h, Protobuf: rw1, Body: s2.EncodeSnappy(nil, rw1), OverHTTP: r.OverHTTP}, nil
}
