package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// Authority is the operator CA as it rotates: Current signs; Next is published in the trust
// bundle before it signs, so that every copy of the bundle (mounted Secrets and ConfigMaps,
// which the kubelet refreshes on its own schedule) trusts it before any certificate it signed is
// served; Previous signed until Next took over, and stays trusted until it expires, for the
// certificates it signed that are not yet re-issued.
type Authority struct {
	Current Pair
	Next    *Pair
	// Previous is the PEM certificates of the CAs that signed before Current, unexpired.
	Previous []byte
}

// Bundle is every CA certificate a peer must trust: Current, Next and Previous, PEM.
func (a Authority) Bundle() []byte {
	out := bytes.Clone(a.Current.Cert)
	if a.Next != nil {
		out = append(out, a.Next.Cert...)
	}
	return append(out, a.Previous...)
}

// Rotation is when the CA rotates.
type Rotation struct {
	// CommonName and Validity are a new CA's.
	CommonName string
	Validity   time.Duration
	// Leaf is the longest a certificate the CA signs must stay valid: its validity plus its
	// renewal window. A CA with less left than Leaf plus Overlap publishes its successor.
	Leaf time.Duration
	// Overlap is how long the successor is published before it signs.
	Overlap time.Duration
}

// Step returns the authority as it is due at now, and what changed (empty when nothing did):
// an unusable Current (missing, damaged, a key that is not its certificate's, expired) is
// replaced at once, by Next if it is usable; a Current that expires within Leaf+Overlap gets a
// Next; a Next published for Overlap becomes Current; a Previous that expired or that cannot be
// read is dropped, and so is a Next that cannot be used.
func (r Rotation) Step(a Authority, now time.Time) (Authority, string, error) {
	var changes []string
	if a.Next != nil && usable(*a.Next, now) != nil {
		changes = append(changes, "dropped a next CA that cannot sign")
		a.Next = nil
	}
	if err := usable(a.Current, now); err != nil {
		if c, err := ParseCert(a.Current.Cert); err == nil && now.Before(c.NotAfter) {
			// The key is lost but the certificate still verifies what it signed.
			a.Previous = append(bytes.Clone(a.Current.Cert), a.Previous...)
		}
		if a.Next != nil {
			a.Current, a.Next = *a.Next, nil
			changes = append(changes, fmt.Sprintf("the CA cannot sign (%v): the next CA signs now", err))
		} else {
			ca, err2 := NewCA(r.CommonName, now, r.Validity)
			if err2 != nil {
				return a, "", err2
			}
			a.Current = ca
			changes = append(changes, fmt.Sprintf("the CA cannot sign (%v): created a new CA", err))
		}
	}
	if kept := unexpired(a.Previous, now); !bytes.Equal(kept, a.Previous) {
		a.Previous = kept
		changes = append(changes, "stopped trusting a previous CA: it expired")
	}
	current, _ := ParseCert(a.Current.Cert)
	if a.Next == nil && current.NotAfter.Sub(now) <= r.Leaf+r.Overlap {
		next, err := NewCA(r.CommonName, now, r.Validity)
		if err != nil {
			return a, "", err
		}
		a.Next = &next
		changes = append(changes, fmt.Sprintf("the CA expires %s: published the next CA, which signs from %s",
			current.NotAfter.UTC().Format(time.RFC3339), now.Add(r.Overlap).UTC().Format(time.RFC3339)))
	}
	if a.Next != nil {
		next, _ := ParseCert(a.Next.Cert)
		if !now.Before(next.NotBefore.Add(backdate).Add(r.Overlap)) {
			a.Previous, a.Current, a.Next = append(bytes.Clone(a.Current.Cert), a.Previous...), *a.Next, nil
			changes = append(changes, "the next CA signs now; the previous one stays trusted until it expires")
		}
	}
	return a, strings.Join(changes, "; "), nil
}

// unexpired returns the certificates of a PEM bundle that are valid at now, PEM.
func unexpired(bundle []byte, now time.Time) []byte {
	var out []byte
	for rest := bundle; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil && now.Before(c.NotAfter) {
			out = append(out, pem.EncodeToMemory(block)...)
		}
	}
}

// usable says why a CA cannot sign at now, or nil.
func usable(p Pair, now time.Time) error {
	cert, key, err := parsePair(p)
	switch {
	case err != nil:
		return err
	case !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("not a CA certificate")
	case !now.Before(cert.NotAfter):
		return fmt.Errorf("expired %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return fmt.Errorf("the key is not the certificate's")
	}
	return nil
}
