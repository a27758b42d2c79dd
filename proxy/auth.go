// SPDX-License-Identifier: MIT

package proxy

import "crypto/subtle"

// Credentials are a username and password a proxy requires. The zero
// value requires none.
type Credentials struct {
	Username string
	// Password is wiped by Wipe once the servers using it are closed.
	Password []byte
}

func (c *Credentials) required() bool { return c.Username != "" || len(c.Password) > 0 }

// check compares both parts in constant time, so that the time a refusal
// takes tells nothing about how much of either was right.
func (c *Credentials) check(user, pass []byte) bool {
	u := subtle.ConstantTimeCompare(user, []byte(c.Username))
	p := subtle.ConstantTimeCompare(pass, c.Password)
	return u&p == 1
}

// Wipe clears the password.
func (c *Credentials) Wipe() { clear(c.Password) }
