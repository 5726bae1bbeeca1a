package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// runUI serves the Temporal Web UI (its assets are built into the ui-server module) against a cluster's frontend.
func runUI(args []string) error {
	fs := flag.NewFlagSet("ui", flag.ExitOnError)
	address := fs.String("temporal-address", "127.0.0.1:7233", "the frontend's gRPC address")
	ip := fs.String("ip", "127.0.0.1", "the address the UI listens on")
	port := fs.Int("port", 8233, "the port the UI listens on")
	tlsCA := fs.String("tls-ca", "", "CA certificate file of the frontend, when it serves TLS")
	tlsCert := fs.String("tls-cert", "", "client certificate file for the frontend")
	tlsKey := fs.String("tls-key", "", "client key file for the frontend")
	tlsServerName := fs.String("tls-server-name", "", "server name to check in the frontend's certificate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host := *ip
	if parsed := net.ParseIP(host); parsed != nil && parsed.To4() == nil {
		host = "[" + host + "]"
	}
	cfg := &uiconfig.Config{
		Host:                host,
		Port:                *port,
		TemporalGRPCAddress: *address,
		EnableUI:            true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		TLS: uiconfig.TLS{
			CaFile:     *tlsCA,
			CertFile:   *tlsCert,
			KeyFile:    *tlsKey,
			ServerName: *tlsServerName,
			// Verify the frontend's certificate whenever a CA is given (ui-server skips the check unless told).
			EnableHostVerification: *tlsCA != "",
		},
	}
	ui := uiserver.NewServer(uiserveroptions.WithConfigProvider(cfg))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	failed := make(chan error, 1)
	go func() { failed <- ui.Start() }()
	select {
	case <-stop:
		ui.Stop()
		return nil
	case err := <-failed:
		return fmt.Errorf("the UI server stopped: %w", err)
	}
}
