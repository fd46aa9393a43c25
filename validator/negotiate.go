package validator

import (
	"mime"
	"strings"
)

// The protobuf messages of the two remote-write versions, as the proto
// parameter of Content-Type names them.
const (
	RW1Message = "prometheus.WriteRequest"
	RW2Message = "io.prometheus.write.v2.Request"
)

// Negotiate picks the remote-write version of a body from its content
// headers, as the remote write 2.0 specification has receivers do: the
// proto parameter of the Content-Type names the message;
// application/x-protobuf without one, or no Content-Type at all, is remote
// write 1.0. Any other type or message, and any encoding but snappy, is
// refused as unsupported (415), so that a 2.0 sender falls back to 1.0.
func Negotiate(contentType, contentEncoding string) (Version, error) {
	if contentEncoding != "" && !strings.EqualFold(contentEncoding, "snappy") {
		return 0, NewError(ErrIDUnsupportedEncoding, CauseUnsupported, nil,
			"unsupported Content-Encoding %q, remote write uses snappy", contentEncoding)
	}
	if contentType == "" {
		return RW1, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-protobuf" {
		return 0, NewError(ErrIDUnsupportedContentType, CauseUnsupported, nil,
			"unsupported Content-Type %q, remote write uses application/x-protobuf", contentType)
	}
	p, ok := params["proto"]
	switch {
	case !ok || p == RW1Message:
		return RW1, nil
	case p == RW2Message:
		return RW2, nil
	}
	return 0, NewError(ErrIDUnsupportedContentType, CauseUnsupported, nil,
		"unsupported remote-write message %q, this receiver takes %s and %s", p, RW1Message, RW2Message)
}
