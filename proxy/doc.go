// SPDX-License-Identifier: MIT

// Package proxy offers a tunnel to the programs of the host that cannot or
// should not route into it: a SOCKS5 proxy (CONNECT and UDP ASSOCIATE), an
// HTTP proxy, and fixed TCP and UDP port forwards in both directions. It is what "wgplex proxy" runs on
// top of a netstack device, so that no root and no TUN device is needed.
//
// Every server bounds what a client can make it hold: a number of
// concurrent connections (more are closed at once), a deadline for the
// proxy handshake, and a destination check against the tunnel's allowed
// IPs, so that a client asking for an address no peer takes is refused
// rather than left waiting.
package proxy
