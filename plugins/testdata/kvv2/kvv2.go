// SPDX-License-Identifier: MIT

// Package kvv2 is a test-only second version of the key vault service,
// wgplex.keyvault.v2.KeyVault, served beside v1 to prove that protocol
// versions are negotiated. It reuses v1's messages: what matters to the
// test is that the service name differs, so that a daemon talking v1 to a
// v2-only plugin (or the other way round) fails with Unimplemented.
package kvv2

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	keyvaultv1 "github.com/wgplex/wgplex/plugins/proto/keyvault/v1"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// ServiceName is the gRPC service of the test-only v2.
const ServiceName = "wgplex.keyvault.v2.KeyVault"

// Plugin is the go-plugin glue of the v2 key vault; the daemon side
// dispenses an sdk.KeyVault, so the host's KeyVault works on it unchanged.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the vault a plugin serves.
	Impl sdk.KeyVault
}

// GRPCServer registers the v2 service.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("kvv2: Impl is nil")
	}
	s.RegisterService(&serviceDesc, p.Impl)
	return nil
}

// GRPCClient returns a v2 client.
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &client{c: c}, nil
}

type client struct{ c *grpc.ClientConn }

func (c *client) PublicKey(ctx context.Context) (sdk.Key, error) {
	out := new(keyvaultv1.PublicKeyResponse)
	if err := c.c.Invoke(ctx, "/"+ServiceName+"/PublicKey", &keyvaultv1.PublicKeyRequest{}, out); err != nil {
		return sdk.Key{}, err
	}
	return toKey(out.GetPublicKey())
}

func (c *client) DH(ctx context.Context, peer sdk.Key) (sdk.Key, error) {
	out := new(keyvaultv1.DHResponse)
	if err := c.c.Invoke(ctx, "/"+ServiceName+"/DH", &keyvaultv1.DHRequest{PeerPublicKey: peer[:]}, out); err != nil {
		return sdk.Key{}, err
	}
	return toKey(out.GetSharedSecret())
}

func toKey(b []byte) (sdk.Key, error) {
	if len(b) != sdk.KeySize {
		return sdk.Key{}, sdk.ErrBadReply
	}
	return sdk.Key(b), nil
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*sdk.KeyVault)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "PublicKey", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(keyvaultv1.PublicKeyRequest)); err != nil {
				return nil, err
			}
			k, err := srv.(sdk.KeyVault).PublicKey(ctx)
			if err != nil {
				return nil, err
			}
			return &keyvaultv1.PublicKeyResponse{PublicKey: k[:]}, nil
		}},
		{MethodName: "DH", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(keyvaultv1.DHRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			peer, err := toKey(in.GetPeerPublicKey())
			if err != nil {
				return nil, err
			}
			s, err := srv.(sdk.KeyVault).DH(ctx, peer)
			if err != nil {
				return nil, err
			}
			return &keyvaultv1.DHResponse{SharedSecret: s[:]}, nil
		}},
	},
}
