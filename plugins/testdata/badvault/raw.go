// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"crypto/ecdh"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	keyvaultv1 "github.com/wgplex/wgplex/plugins/proto/keyvault/v1"
)

// rawPlugin serves the gRPC service directly, without the SDK's server
// wrapper, to send replies the wrapper would never let through.
type rawPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	mode string
	pub  []byte
	key  *ecdh.PrivateKey
}

func (p *rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	keyvaultv1.RegisterKeyVaultServer(s, rawServer{p: p})
	return nil
}

func (*rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server side only")
}

type rawServer struct {
	keyvaultv1.UnimplementedKeyVaultServer
	p *rawPlugin
}

func (s rawServer) PublicKey(context.Context, *keyvaultv1.PublicKeyRequest) (*keyvaultv1.PublicKeyResponse, error) {
	if s.p.mode == "short-pub" {
		return &keyvaultv1.PublicKeyResponse{PublicKey: s.p.pub[:31]}, nil
	}
	return &keyvaultv1.PublicKeyResponse{PublicKey: s.p.pub}, nil
}

func (s rawServer) DH(_ context.Context, req *keyvaultv1.DHRequest) (*keyvaultv1.DHResponse, error) {
	if honestOnce() {
		pub, err := ecdh.X25519().NewPublicKey(req.GetPeerPublicKey())
		if err != nil {
			return nil, err
		}
		shared, err := s.p.key.ECDH(pub)
		return &keyvaultv1.DHResponse{SharedSecret: shared}, err
	}
	if s.p.mode == "zero-dh" {
		return &keyvaultv1.DHResponse{SharedSecret: make([]byte, 32)}, nil
	}
	return &keyvaultv1.DHResponse{SharedSecret: []byte{1, 2, 3}}, nil
}

func (rawServer) GenerateKey(context.Context, *keyvaultv1.GenerateKeyRequest) (*keyvaultv1.GenerateKeyResponse, error) {
	return &keyvaultv1.GenerateKeyResponse{PublicKey: make([]byte, 64)}, nil
}
