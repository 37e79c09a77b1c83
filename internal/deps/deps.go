// Package deps pins the settled dependencies in go.mod while the packages that
// use them are being written. TEMPORARY: delete once every import is real.
package deps

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/pquerna/otp/totp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/hkdf"
	_ "golang.org/x/text/encoding/charmap"
	_ "golang.org/x/text/language"
)
