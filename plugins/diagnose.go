// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"errors"
	"os"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wgplex/wgplex/plugins/sdk"
)

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
