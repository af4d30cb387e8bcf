// Package certs issues the operator's certificates: a CA, serving certificates for model
// endpoints' Services, and the gateway's client certificate; and decides when they need
// renewing. Time is passed in, so renewal is tested with a fake clock.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// backdate keeps certificates valid on nodes whose clocks lag a little.
const backdate = 5 * time.Minute

// Pair is a PEM certificate and its PEM private key.
type Pair struct {
	Cert, Key []byte
}

// NewCA creates a self-signed CA valid from now for validity.
func NewCA(commonName string, now time.Time, validity time.Duration) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: commonName, Organization: []string{"serverlessplane"}},
		NotBefore: now.Add(-backdate), NotAfter: now.Add(validity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Pair{}, err
	}
	return encode(der, key)
}

// Usage is what a leaf certificate is for.
type Usage int

const (
	// Serving certificates authenticate a server to its clients.
	Serving Usage = iota
	// Client certificates authenticate a client to servers.
	Client
)

// Issue signs a leaf certificate for the DNS names (serving) or the common name (client).
func Issue(ca Pair, usage Usage, commonName string, dnsNames []string, now time.Time, validity time.Duration) (Pair, error) {
	caCert, caKey, err := parsePair(ca)
	if err != nil {
		return Pair{}, fmt.Errorf("reading the CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	eku := x509.ExtKeyUsageServerAuth
	if usage == Client {
		eku = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: commonName, Organization: []string{"serverlessplane"}},
		NotBefore: now.Add(-backdate), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku},
		DNSNames: dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return Pair{}, err
	}
	return encode(der, key)
}

// Renewal says whether a certificate must be replaced, and why: it is missing or unreadable,
// expires within renewBefore, names other DNS names than want, or was not signed by ca.
func Renewal(certPEM []byte, ca []byte, want []string, now time.Time, renewBefore time.Duration) (bool, string) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return true, "no valid certificate"
	}
	if remaining := cert.NotAfter.Sub(now); remaining <= renewBefore {
		return true, fmt.Sprintf("expires %s, within the renewal window of %s", cert.NotAfter.UTC().Format(time.RFC3339), renewBefore)
	}
	got := slices.Clone(cert.DNSNames)
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		return true, "its DNS names changed"
	}
	caCert, err := ParseCert(ca)
	if err != nil {
		return true, "no valid CA"
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		return true, "it was signed by another CA"
	}
	return false, ""
}

// ParseCert reads the first certificate of a PEM block.
func ParseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parsePair(p Pair) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cert, err := ParseCert(p.Cert)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(p.Key)
	if block == nil {
		return nil, nil, errors.New("no PEM key")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func encode(der []byte, key *ecdsa.PrivateKey) (Pair, error) {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
