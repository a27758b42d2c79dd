// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// maxQuotedLine bounds how much of a stray stdout line goes into an
// error: enough to recognise a debug print, not a whole dump.
const maxQuotedLine = 80

// badHandshakeLine explains go-plugin's "Unrecognized remote plugin
// message" with the line quoted, so that a plugin printing to stdout
// before Serve is recognisable from the daemon's log alone.
func badHandshakeLine(line string) string {
	line = strings.TrimSpace(line)
	if line == "" {
		return "plugin exited or wrote no handshake line"
	}
	return "plugin wrote " + quoteLine(line) + " on stdout instead of the handshake line (stdout belongs to the handshake: log to stderr)"
}

// quoteLine makes untrusted plugin output safe for one log line:
// truncated, non-printable runes escaped, in quotes.
func quoteLine(s string) string {
	cut := false
	if len(s) > maxQuotedLine {
		s, cut = s[:maxQuotedLine], true
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	q := strconv.QuoteToGraphic(s)
	if cut {
		q += "..."
	}
	return q
}

// incompatibleVersion rewrites go-plugin's version mismatch, whose list
// of versions comes from a map in random order, into a sorted, actionable
// line.
func incompatibleVersion(msg string) string {
	_, rest, ok := strings.Cut(msg, "Plugin version: ")
	if !ok {
		return msg
	}
	pv, rest, ok := strings.Cut(rest, ",")
	if !ok {
		return msg
	}
	_, list, ok := strings.Cut(rest, "[")
	if !ok {
		return msg
	}
	list, _, _ = strings.Cut(list, "]")
	var ours []int
	for _, f := range strings.Fields(list) {
		if v, err := strconv.Atoi(f); err == nil {
			ours = append(ours, v)
		}
	}
	slices.Sort(ours)
	strs := make([]string, len(ours))
	for i, v := range ours {
		strs[i] = strconv.Itoa(v)
	}
	pv = strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return r
		}
		return -1
	}, pv)
	return fmt.Sprintf("incompatible API version: the plugin speaks plugin protocol version %s, this wgplex speaks %s; rebuild the plugin with an SDK that serves one of those",
		pv, strings.Join(strs, ", "))
}

// callCode is the gRPC status code name a call ended with, for the calls
// counter. The SDK turns statuses back into its sentinel errors, so those
// are mapped first; the set of values is small and fixed.
func callCode(err error) string {
	switch {
	case err == nil:
		return codes.OK.String()
	case errors.Is(err, ErrPluginDown):
		return codes.Unavailable.String()
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded.String()
	case errors.Is(err, context.Canceled):
		return codes.Canceled.String()
	case errors.Is(err, sdk.ErrNotSupported):
		return codes.Unimplemented.String()
	case errors.Is(err, sdk.ErrKeyExists):
		return codes.AlreadyExists.String()
	case errors.Is(err, sdk.ErrNoKey):
		return codes.FailedPrecondition.String()
	case errors.Is(err, sdk.ErrBadReply):
		return codes.InvalidArgument.String()
	}
	if st, ok := status.FromError(err); ok {
		return st.Code().String()
	}
	return codes.Unknown.String()
}

// newSocketDir makes the private directory a plugin creates its gRPC
// socket in (go-plugin's PLUGIN_UNIX_SOCKET_DIR). A plugin killed with
// SIGKILL cannot remove its socket, so the daemon removes the whole
// directory once the plugin is gone.
func newSocketDir(name string) (string, error) {
	clean := strings.Map(func(r rune) rune {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
			return r
		}
		return '_'
	}, name)
	if len(clean) > 32 {
		clean = clean[:32]
	}
	return os.MkdirTemp("", "wgplex-plugin-"+clean+"-")
}
