// SPDX-License-Identifier: MIT

package fleet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxFileSize bounds any fleet file read: the largest object is a full
// revocation list.
const maxFileSize = 2 * (16 + 8*MaxRevoked + ed25519.SignatureSize)

// EncodeText is the file form of an encoded object: one line of base64,
// like a wg(8) key, so that it survives copy and paste, etcdctl and mail.
func EncodeText(obj []byte) []byte {
	out := make([]byte, b64.EncodedLen(len(obj))+1)
	b64.Encode(out, obj)
	out[len(out)-1] = '\n'
	return out
}

// DecodeText reads an object in file form. Raw binary (starting with a
// magic number) is accepted as well.
func DecodeText(data []byte) ([]byte, error) {
	if len(data) > maxFileSize {
		return nil, malformed("larger than %d bytes", maxFileSize)
	}
	if bytes.HasPrefix(data, []byte("WGF")) {
		return data, nil
	}
	t := bytes.TrimSpace(data)
	out := make([]byte, b64.DecodedLen(len(t)))
	n, err := b64.Decode(out, t)
	if err != nil {
		return nil, malformed("not base64: %v", err)
	}
	return out[:n], nil
}

// ReadFile reads an object file (EncodeText's form or raw).
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	obj, err := DecodeText(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

// GenerateKey makes an Ed25519 key pair for a CA or a node's signing.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// WritePrivateKeyFile writes the seed of key to a new file of mode 0600;
// an existing file is never overwritten (a CA key overwritten by mistake
// takes the whole fleet's trust with it).
func WritePrivateKeyFile(path string, key ed25519.PrivateKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	seed := key.Seed()
	text := make([]byte, b64.EncodedLen(len(seed))+1)
	b64.Encode(text, seed)
	text[len(text)-1] = '\n'
	_, werr := f.Write(text)
	clear(seed)
	clear(text)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// ReadPrivateKeyFile reads a key written by WritePrivateKeyFile. A file
// that group or others may read or write is refused, as ssh refuses a
// loose private key: whoever reads it signs for the fleet or the node.
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets others read the key; chmod 600 it", path, st.Mode().Perm())
	}
	buf := make([]byte, 256)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	defer clear(buf)
	t := bytes.TrimSpace(buf[:n])
	seed := make([]byte, ed25519.SeedSize+3)
	defer clear(seed)
	m, err := b64.Decode(seed, t)
	if err != nil || m != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: not a base64 Ed25519 private key", path)
	}
	return ed25519.NewKeyFromSeed(seed[:m]), nil
}

// WriteObjectFile writes an encoded object in text form to a new file of
// the given mode; existing files are not overwritten unless replace is
// set (a revocation list is replaced by its successor).
func WriteObjectFile(path string, obj []byte, mode os.FileMode, replace bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if replace {
		tmp := path + ".tmp"
		os.Remove(tmp)
		if err := WriteObjectFile(tmp, obj, mode, false); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	f, err := os.OpenFile(path, flags, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(EncodeText(obj))
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
