package proxy

import (
	"crypto/tls"
	"errors"
	"slices"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

func compileSecret(s *tlsv3.Secret) (*tls.Certificate, error) {
	if err := checkFields(s, ""); err != nil {
		return nil, err
	}
	if s.GetTlsCertificate() == nil {
		return nil, unsupported("type", "a secret that is not a tls_certificate")
	}
	kp, err := keyPair(s.GetTlsCertificate())
	if err != nil {
		return nil, invalid("tls_certificate", err)
	}
	return &kp, nil
}

func keyPair(c *tlsv3.TlsCertificate) (tls.Certificate, error) {
	chain := slices.Concat(c.GetCertificateChain().GetInlineBytes(), []byte(c.GetCertificateChain().GetInlineString()))
	key := slices.Concat(c.GetPrivateKey().GetInlineBytes(), []byte(c.GetPrivateKey().GetInlineString()))
	if len(chain) == 0 || len(key) == 0 {
		return tls.Certificate{}, errors.New("certificate chain and private key must be inline")
	}
	return tls.X509KeyPair(chain, key)
}
