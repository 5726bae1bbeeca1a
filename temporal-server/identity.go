package main

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"

	"go.temporal.io/server/common/authorization"
)

// Identities. Every connection to the frontend presents a client certificate signed by the cluster's CA (the
// frontend is configured with requireClientAuth, so a missing or foreign certificate is refused in the TLS
// handshake); the certificate's Subject CommonName names who is calling:
//
//	zansoc-orchestrator           the orchestrator's workers and the operator's tools: admin of everything
//	zansoc-system-worker          the Temporal cluster's own worker service (and the frontend's calls to itself)
//	zansoc-operator:<name>        a person operating the network, the Web UI, the temporal CLI: admin
//	zansoc-api:<name>             the API: starts, reads and messages workflows, never touches tasks
//	zansoc-host:<hostId>          a stranger's machine: polls and answers only its own queue host.<hostId>
type callerKind int

const (
	kindOrchestrator callerKind = iota + 1
	kindSystemWorker
	kindOperator
	kindAPI
	kindHost
)

func (k callerKind) String() string {
	switch k {
	case kindOrchestrator:
		return "orchestrator"
	case kindSystemWorker:
		return "system-worker"
	case kindOperator:
		return "operator"
	case kindAPI:
		return "api"
	case kindHost:
		return "host"
	}
	return "unknown"
}

// caller is what the claim mapper puts in Claims.Extensions for the authorizer.
type caller struct {
	kind callerKind
	// name is the operator's or API's name, or the host's id.
	name string
}

func (c caller) String() string {
	if c.name == "" {
		return c.kind.String()
	}
	return c.kind.String() + ":" + c.name
}

const (
	orchestratorCN   = "zansoc-orchestrator"
	systemWorkerCN   = "zansoc-system-worker"
	operatorCNPrefix = "zansoc-operator:"
	apiCNPrefix      = "zansoc-api:"
	hostCNPrefix     = "zansoc-host:"
)

// A name in a certificate: what a host id or an operator's name may be. No '/', so a host id cannot name a task
// queue partition (`/_sys/<queue>/<n>`) or anything but itself.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// parseCommonName maps a certificate's CommonName to a caller, or says why it names no one.
func parseCommonName(cn string) (caller, error) {
	switch cn {
	case orchestratorCN:
		return caller{kind: kindOrchestrator}, nil
	case systemWorkerCN:
		return caller{kind: kindSystemWorker}, nil
	}
	for prefix, kind := range map[string]callerKind{operatorCNPrefix: kindOperator, apiCNPrefix: kindAPI, hostCNPrefix: kindHost} {
		if name, ok := strings.CutPrefix(cn, prefix); ok {
			if !namePattern.MatchString(name) {
				return caller{}, fmt.Errorf("certificate CommonName %q: the name after %q must match %s", cn, prefix, namePattern)
			}
			return caller{kind: kind, name: name}, nil
		}
	}
	return caller{}, fmt.Errorf("certificate CommonName %q names no Zansoc identity", cn)
}

// certificateClaimMapper maps the verified client certificate of a connection to claims. Admins (orchestrator,
// system worker, operator) get the system admin role; the API and hosts get no role at all, so nothing that checks
// roles lets them through, and the authorizer decides their calls from its tables alone.
//
// hostCA, when set, is the CA the API runs to certify hosts at join (api/host-certificates.ts): the frontend trusts
// it beside the operator's CA, but a certificate it issued names a host or no one, so the API's key can mint host
// identities and nothing more.
type certificateClaimMapper struct {
	hostCA *x509.Certificate
}

var _ authorization.ClaimMapper = certificateClaimMapper{}

func (m certificateClaimMapper) GetClaims(info *authorization.AuthInfo) (*authorization.Claims, error) {
	// TLSSubject is set from the first verified chain only: an unverified certificate never gets here.
	if info == nil || info.TLSSubject == nil {
		return nil, fmt.Errorf("no verified client certificate")
	}
	who, err := parseCommonName(info.TLSSubject.CommonName)
	if err != nil {
		return nil, err
	}
	if m.hostCA != nil && who.kind != kindHost {
		fromHostCA, err := issuedBy(info, m.hostCA)
		if err != nil {
			return nil, err
		}
		if fromHostCA {
			return nil, fmt.Errorf("certificate CommonName %q: the host CA issues host identities only", info.TLSSubject.CommonName)
		}
	}
	claims := &authorization.Claims{Subject: info.TLSSubject.CommonName, Extensions: who}
	switch who.kind {
	case kindOrchestrator, kindSystemWorker, kindOperator:
		claims.System = authorization.RoleAdmin
	}
	return claims, nil
}

// AuthInfoRequired: a call with no certificate is never mapped (the authorizer then sees nil claims and denies).
func (certificateClaimMapper) AuthInfoRequired() bool { return true }

// issuedBy says whether a verified chain of the connection ends at ca. Without the connection's chains it cannot
// tell, and says so (the caller then denies).
func issuedBy(info *authorization.AuthInfo, ca *x509.Certificate) (bool, error) {
	if info.TLSConnection == nil || len(info.TLSConnection.State.VerifiedChains) == 0 {
		return false, fmt.Errorf("no verified certificate chain to tell its issuer by")
	}
	for _, chain := range info.TLSConnection.State.VerifiedChains {
		if len(chain) > 0 && chain[len(chain)-1].Equal(ca) {
			return true, nil
		}
	}
	return false, nil
}
