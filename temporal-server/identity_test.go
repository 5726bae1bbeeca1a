package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"go.temporal.io/server/common/authorization"
	"google.golang.org/grpc/credentials"
)

// newCA makes a self-signed CA certificate named cn.
func newCA(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// connectedWith is the AuthInfo of a connection whose verified chain for a leaf named cn ends at root.
func connectedWith(cn string, root *x509.Certificate) *authorization.AuthInfo {
	leaf := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
	state := tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf, root}}}
	return &authorization.AuthInfo{TLSSubject: &leaf.Subject, TLSConnection: &credentials.TLSInfo{State: state}}
}

func TestTheHostCAIssuesHostIdentitiesOnly(t *testing.T) {
	operatorCA, hostCA := newCA(t, "Zansoc cluster CA"), newCA(t, "Zansoc host CA")
	mapper := certificateClaimMapper{hostCA: hostCA}

	claims, err := mapper.GetClaims(connectedWith("zansoc-host:h1", hostCA))
	if err != nil || claims.Extensions.(caller) != (caller{kind: kindHost, name: "h1"}) {
		t.Fatalf("a host certificate of the host CA: claims %+v, err %v", claims, err)
	}
	for _, cn := range []string{"zansoc-orchestrator", "zansoc-operator:mallory", "zansoc-api:api", "zansoc-system-worker"} {
		if claims, err := mapper.GetClaims(connectedWith(cn, hostCA)); err == nil {
			t.Errorf("%s issued by the host CA was mapped to %+v; want refused", cn, claims)
		}
		if _, err := mapper.GetClaims(connectedWith(cn, operatorCA)); err != nil {
			t.Errorf("%s issued by the operator's CA: %v", cn, err)
		}
	}
	// The operator's CA may certify a host too (an operator running its own machines).
	if _, err := mapper.GetClaims(connectedWith("zansoc-host:h2", operatorCA)); err != nil {
		t.Errorf("a host certificate of the operator's CA: %v", err)
	}
	// Without the connection's chains the issuer cannot be told: an admin name is refused rather than trusted.
	if _, err := mapper.GetClaims(&authorization.AuthInfo{TLSSubject: &pkix.Name{CommonName: "zansoc-orchestrator"}}); err == nil {
		t.Error("an admin name with no verified chain was mapped; want refused")
	}
}
