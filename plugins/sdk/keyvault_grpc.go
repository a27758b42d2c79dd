// SPDX-License-Identifier: MIT

package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	keyvaultv1 "github.com/wgplex/wgplex/plugins/proto/keyvault/v1"
)

// KeyVaultPlugin is the go-plugin glue of the key vault kind. In a plugin,
// Impl is the vault being served; in the daemon, Impl is unset and the
// dispensed value is a *KeyVaultClient.
type KeyVaultPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the vault a plugin serves.
	Impl KeyVault
}

var _ plugin.GRPCPlugin = (*KeyVaultPlugin)(nil)

// GRPCServer registers the vault with the plugin's gRPC server.
func (p *KeyVaultPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("sdk: KeyVaultPlugin.Impl is nil")
	}
	keyvaultv1.RegisterKeyVaultServer(s, &keyVaultServer{impl: p.Impl})
	return nil
}

// GRPCClient returns the daemon's view of the plugin, a *KeyVaultClient.
func (p *KeyVaultPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewKeyVaultClient(c), nil
}

// KeyVaultClient is the daemon's side of a key vault plugin: it implements
// KeyVault, KeyGenerator and RecordSigner by calling the plugin, and checks every reply
// so that a broken plugin yields an error wrapping ErrBadReply, never a bad
// key handed to the handshake.
type KeyVaultClient struct {
	rpc keyvaultv1.KeyVaultClient
}

var (
	_ KeyVault     = (*KeyVaultClient)(nil)
	_ KeyGenerator = (*KeyVaultClient)(nil)
	_ RecordSigner = (*KeyVaultClient)(nil)
)

// NewKeyVaultClient wraps a gRPC connection to a key vault.
func NewKeyVaultClient(c grpc.ClientConnInterface) *KeyVaultClient {
	return &KeyVaultClient{rpc: keyvaultv1.NewKeyVaultClient(c)}
}

// PublicKey asks the vault for its public key.
func (c *KeyVaultClient) PublicKey(ctx context.Context) (Key, error) {
	resp, err := c.rpc.PublicKey(ctx, &keyvaultv1.PublicKeyRequest{})
	if err != nil {
		return Key{}, fromStatus(err)
	}
	return checkKey("public key from the vault", resp.GetPublicKey())
}

// DH asks the vault for X25519(static private, peer).
func (c *KeyVaultClient) DH(ctx context.Context, peer Key) (Key, error) {
	resp, err := c.rpc.DH(ctx, &keyvaultv1.DHRequest{PeerPublicKey: peer[:]})
	if err != nil {
		return Key{}, fromStatus(err)
	}
	return checkKey("shared secret from the vault", resp.GetSharedSecret())
}

// GenerateKey asks the vault to create a new key.
func (c *KeyVaultClient) GenerateKey(ctx context.Context, overwrite bool) (Key, error) {
	resp, err := c.rpc.GenerateKey(ctx, &keyvaultv1.GenerateKeyRequest{Overwrite: overwrite})
	if err != nil {
		return Key{}, fromStatus(err)
	}
	return checkKey("public key of the generated key", resp.GetPublicKey())
}

// SignRecord asks the vault to sign a fleet record; a vault without a
// signing key answers with ErrNotSupported.
func (c *KeyVaultClient) SignRecord(ctx context.Context, msg []byte) ([]byte, []byte, error) {
	if err := checkRecordMessage(msg); err != nil {
		return nil, nil, err
	}
	resp, err := c.rpc.SignRecord(ctx, &keyvaultv1.SignRecordRequest{Message: msg})
	if err != nil {
		return nil, nil, fromStatus(err)
	}
	sig, pub := resp.GetSignature(), resp.GetPublicKey()
	if len(sig) != 64 || len(pub) != 32 {
		return nil, nil, fmt.Errorf("%w: signature of %d bytes and signing key of %d bytes", ErrBadReply, len(sig), len(pub))
	}
	return sig, pub, nil
}

// checkRecordMessage refuses what is not a fleet record to sign.
func checkRecordMessage(msg []byte) error {
	if len(msg) > MaxSignedRecord || len(msg) < len(RecordMagic) || string(msg[:len(RecordMagic)]) != RecordMagic {
		return fmt.Errorf("%w: not a fleet record of at most %d bytes", ErrBadReply, MaxSignedRecord)
	}
	return nil
}

// keyVaultServer is the plugin's side: it unpacks requests, checks them and
// calls the implementation.
type keyVaultServer struct {
	keyvaultv1.UnimplementedKeyVaultServer
	impl KeyVault
}

func (s *keyVaultServer) PublicKey(ctx context.Context, _ *keyvaultv1.PublicKeyRequest) (*keyvaultv1.PublicKeyResponse, error) {
	k, err := s.impl.PublicKey(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &keyvaultv1.PublicKeyResponse{PublicKey: k[:]}, nil
}

func (s *keyVaultServer) DH(ctx context.Context, req *keyvaultv1.DHRequest) (*keyvaultv1.DHResponse, error) {
	peer, err := checkKey("peer public key", req.GetPeerPublicKey())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	shared, err := s.impl.DH(ctx, peer)
	if err != nil {
		return nil, toStatus(err)
	}
	if isZero(shared) {
		// The interface asks implementations to refuse this; a slip must
		// not turn into a predictable session key on the daemon's side.
		return nil, status.Error(codes.InvalidArgument, "X25519 result is all zeros (low-order peer key)")
	}
	return &keyvaultv1.DHResponse{SharedSecret: shared[:]}, nil
}

func (s *keyVaultServer) GenerateKey(ctx context.Context, req *keyvaultv1.GenerateKeyRequest) (*keyvaultv1.GenerateKeyResponse, error) {
	g, ok := s.impl.(KeyGenerator)
	if !ok {
		return nil, toStatus(ErrNotSupported)
	}
	k, err := g.GenerateKey(ctx, req.GetOverwrite())
	if err != nil {
		return nil, toStatus(err)
	}
	return &keyvaultv1.GenerateKeyResponse{PublicKey: k[:]}, nil
}

func (s *keyVaultServer) SignRecord(ctx context.Context, req *keyvaultv1.SignRecordRequest) (*keyvaultv1.SignRecordResponse, error) {
	signer, ok := s.impl.(RecordSigner)
	if !ok {
		return nil, toStatus(ErrNotSupported)
	}
	if err := checkRecordMessage(req.GetMessage()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	sig, pub, err := signer.SignRecord(ctx, req.GetMessage())
	if err != nil {
		return nil, toStatus(err)
	}
	return &keyvaultv1.SignRecordResponse{Signature: sig, PublicKey: pub}, nil
}

// toStatus gives the SDK's errors their gRPC codes so that the other side
// can map them back; anything else is Internal with its message.
func toStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrNotSupported):
		code = codes.Unimplemented
	case errors.Is(err, ErrKeyExists):
		code = codes.AlreadyExists
	case errors.Is(err, ErrNoKey):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrBadReply):
		code = codes.InvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

// fromStatus turns a gRPC error back into an error that wraps the matching
// SDK or context error.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var kind error
	switch st.Code() {
	case codes.Unimplemented:
		kind = ErrNotSupported
	case codes.AlreadyExists:
		kind = ErrKeyExists
	case codes.FailedPrecondition:
		kind = ErrNoKey
	case codes.InvalidArgument:
		kind = ErrBadReply
	case codes.DeadlineExceeded:
		kind = context.DeadlineExceeded
	case codes.Canceled:
		kind = context.Canceled
	default:
		return fmt.Errorf("key vault: %s: %s", st.Code(), st.Message())
	}
	// The plugin's message usually starts with the same sentinel text
	// (the SDK's server side wraps it); say it once.
	msg := strings.TrimPrefix(st.Message(), kind.Error()+": ")
	return fmt.Errorf("key vault: %w: %s", kind, msg)
}
