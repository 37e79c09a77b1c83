//go:build !unix

package inbox

import "testing"

const specialNames = false

func makeSpecialFiles(*testing.T, string) {}
