// SPDX-License-Identifier: MIT

package main

import (
	"net/netip"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// testRecord is a node record with every field set.
func testRecord() sdk.Record {
	var k sdk.Key
	k[0], k[31] = 7, 1
	return sdk.Record{
		PublicKey:           k,
		Name:                "host-7",
		Endpoints:           []string{"192.0.2.7:51820"},
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.7/32")},
		PersistentKeepalive: 25,
		PSKRef:              "fleet",
		Signed:              []byte("WGFR\x01opaque"),
	}
}
