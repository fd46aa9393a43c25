package httpapi

import (
	"net/http"

	"github.com/pushguard/pushguard/validator"
)

// Admit wraps a push handler so that a push only starts when adm admits
// it: over the in-flight limit and during shutdown it is answered 503,
// with Retry-After, before its body is read.
func Admit(adm *validator.Admission, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := adm.Admit(); err != nil {
			writeError(w, err)
			return
		}
		defer adm.Done()
		next.ServeHTTP(w, r)
	})
}
