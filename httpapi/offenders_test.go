package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator"
)

func TestParseFilterOrigin(t *testing.T) {
	for name, tc := range map[string]struct {
		query string
		want  map[string]string
		bad   bool
	}{
		"one label":               {query: "origin=job%3Dkube-state-metrics", want: map[string]string{"job": "kube-state-metrics"}},
		"value with spaces":       {query: "origin=job%3Dmy%20job", want: map[string]string{"job": "my job"}},
		"value as given":          {query: "origin=job%3D%20%22my%20job%22%20", want: map[string]string{"job": ` "my job" `}},
		"value with =":            {query: "origin=url%3D%2F%3Fa%3Db", want: map[string]string{"url": "/?a=b"}},
		"empty value":             {query: "origin=pod%3D", want: map[string]string{"pod": ""}},
		"repeated":                {query: "origin=job%3Da%20b&origin=namespace%3Dc", want: map[string]string{"job": "a b", "namespace": "c"}},
		"spaces around the name":  {query: "origin=%20job%20%3Dx", want: map[string]string{"job": "x"}},
		"empty box of the form":   {query: "origin=&origin=%20&metric=up", want: nil},
		"no =":                    {query: "origin=nonsense", bad: true},
		"no name":                 {query: "origin=%3Dx", bad: true},
		"one bad among good ones": {query: "origin=job%3Da&origin=b", bad: true},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := parseFilter(httptest.NewRequest(http.MethodGet, "/api/v1/offenders?"+tc.query, nil))
			if tc.bad {
				require.Equal(t, validator.ErrIDBadQuery, validator.IDOf(err), "%v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, f.Origin)
		})
	}
}

func TestParseFilterLimitAndRepeats(t *testing.T) {
	for query, want := range map[string]string{
		"limit=-1":                              "limit must be an integer from 0 to 2147483647",
		"limit=99999999999999999999":            "limit must be an integer from 0 to 2147483647",
		"limit=2147483648":                      "limit must be an integer from 0 to 2147483647",
		"kind=within_series&kind=foo":           "kind given 2 times",
		"metric=a&metric=b":                     "metric given 2 times",
		"limit=1&limit=2":                       "limit given 2 times",
		"limit=2147483647&kind=across_requests": "",
	} {
		_, err := parseFilter(httptest.NewRequest(http.MethodGet, "/api/v1/offenders?"+query, nil))
		if want == "" {
			require.NoError(t, err, query)
			continue
		}
		require.Equal(t, validator.ErrIDBadQuery, validator.IDOf(err), "%s: %v", query, err)
		require.ErrorContains(t, err, want, query)
	}
}
