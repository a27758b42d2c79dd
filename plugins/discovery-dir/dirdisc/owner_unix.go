// SPDX-License-Identifier: MIT

//go:build unix

package dirdisc

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwner refuses what another user could have written: a directory or
// file that is group- or world-writable, or owned by someone other than
// root or the user this process runs as. ssh and wg-quick refuse loose
// key files in the same way; here a loose file is a peer anybody can add.
func checkOwner(info os.FileInfo) error {
	if info.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("mode %04o lets others write it (chmod go-w, or --discovery-dir-insecure)", info.Mode().Perm())
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := uint32(os.Getuid()); st.Uid != 0 && st.Uid != uid {
		return fmt.Errorf("owned by uid %d, not root or uid %d (chown it, or --discovery-dir-insecure)", st.Uid, uid)
	}
	return nil
}
