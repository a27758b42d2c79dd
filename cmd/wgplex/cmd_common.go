// SPDX-License-Identifier: MIT

package main

import (
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/wgplex/wgplex/core/uapi"
)

// progName is how the wg(8)-style commands name themselves in messages.
const progName = "wgplex"

// strerror renders err the way wg(8)'s perror does: the C library's text
// for the errno behind it ("No such file or directory"), or the error's own
// text when there is no errno.
func strerror(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return capitalize(en.Error())
	}
	var ue *uapi.Error
	if errors.As(err, &ue) {
		return capitalize(syscall.Errno(ue.Errno).Error())
	}
	return err.Error()
}

func capitalize(s string) string {
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// colorMode decides, as wg(8) does, whether show's pretty output is
// colored: WG_COLOR_MODE=always or never, otherwise only on a terminal.
func colorMode(stdout io.Writer) bool {
	switch os.Getenv("WG_COLOR_MODE") {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := stdout.(*os.File)
	return ok && isTerminal(f)
}
