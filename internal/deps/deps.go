// Package deps pins settled dependencies in go.mod while the packages that
// use them are being written. TEMPORARY: delete once every import is real.
package deps

import (
	_ "github.com/go-co-op/gocron/v2"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/nyaruka/phonenumbers"
	_ "github.com/pkg/sftp"
	_ "github.com/wneessen/go-mail"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/knownhosts"
	_ "golang.org/x/text/encoding/charmap"
)
