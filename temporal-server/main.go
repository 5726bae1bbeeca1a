// Command zansoc-temporal-server is Zansoc's build of the Temporal server: go.temporal.io/server as a library with
// PostgreSQL or SQLite persistence and visibility, TLS from the config file, Zansoc's claim mapper and authorizer, and the Web
// UI as a subcommand.
//
//	zansoc-temporal-server --config cluster.yaml --services frontend,history [--namespace default]
//	zansoc-temporal-server ui --temporal-address 127.0.0.1:7233 --port 8233 [--tls-ca … --tls-cert … --tls-key …]
//
// Two modes, chosen by the config:
//   - global.tls.frontend.server set: every caller presents a client certificate of the cluster's CA
//     (requireClientAuth must be on, or the server refuses to start), its CommonName is its identity
//     (identity.go), and the authorizer (authorizer.go) confines the API and hosts to what its tables allow; the
//     task tokens a host polls are bound to it (tasktoken.go), with the key of --task-token-key-file.
//   - no frontend TLS: a development cluster on loopback, where every caller is admin (npm run cluster).
package main

import (
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	_ "time/tzdata" // timezones for cron schedules on hosts without tzdata

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/metrics"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql" // the postgres12 plugin
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"     // the sqlite plugin (npm start: one process, one file)
	"go.temporal.io/server/common/rpc/encryption"
	"go.temporal.io/server/temporal"
	"gopkg.in/validator.v2"
	"gopkg.in/yaml.v3"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "ui" {
		err = runUI(os.Args[2:])
	} else {
		err = runServer(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func runServer(args []string) error {
	fs := flag.NewFlagSet("zansoc-temporal-server", flag.ExitOnError)
	configFile := fs.String("config", "", "the server's YAML config file (as go.temporal.io/server's config/*.yaml)")
	services := fs.String("services", strings.Join(temporal.DefaultServices, ","), "comma-separated services this process runs")
	namespace := fs.String("namespace", "default", "the namespace the API and hosts work in (with mTLS)")
	tokenKeyFile := fs.String("task-token-key-file", "", "a secret of at least 32 bytes, the same for every frontend, that binds task tokens to hosts (with mTLS)")
	hostCAFile := fs.String("host-ca-file", "", "with mTLS: the CA (PEM) that certifies hosts at join; it must be among the frontend's clientCaFiles, and a certificate it issued may only name a host")
	version := fs.Bool("version", false, "print the Temporal server version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Println(headers.ServerVersion)
		return nil
	}
	if *configFile == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: zansoc-temporal-server --config <file> [--services frontend,history,matching,worker] | ui [flags]")
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		return err
	}
	logger := log.NewZapLogger(log.BuildZapLogger(cfg.Log))
	logger.Info("Starting Zansoc's Temporal server.", tag.NewStringTag("server-version", headers.ServerVersion),
		tag.NewStringTag("services", *services))

	dynamicConfig := dynamicconfig.Client(dynamicconfig.NewNoopClient())
	if cfg.DynamicConfigClient != nil {
		if dynamicConfig, err = dynamicconfig.NewFileBasedClient(cfg.DynamicConfigClient, logger, temporal.InterruptCh()); err != nil {
			return fmt.Errorf("dynamic config: %w", err)
		}
	}
	opts := []temporal.ServerOption{
		temporal.ForServices(strings.Split(*services, ",")),
		temporal.WithConfig(cfg),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicConfig),
		temporal.InterruptOn(temporal.InterruptCh()),
	}
	if frontend := cfg.Global.TLS.Frontend.Server; frontend.CertFile != "" || frontend.CertData != "" {
		if !frontend.RequireClientAuth || (len(frontend.ClientCAFiles) == 0 && len(frontend.ClientCAData) == 0) {
			return fmt.Errorf("global.tls.frontend.server: requireClientAuth and clientCaFiles are needed: identities come from client certificates")
		}
		key, err := os.ReadFile(*tokenKeyFile)
		if err != nil || len(key) < 32 {
			return fmt.Errorf("--task-token-key-file: a file of at least 32 secret bytes is needed with mTLS (%v)", err)
		}
		tokens := taskTokenBinder{key: key}
		mapper := certificateClaimMapper{}
		if *hostCAFile != "" {
			if mapper.hostCA, err = readCertificate(*hostCAFile); err != nil {
				return fmt.Errorf("--host-ca-file: %w", err)
			}
		}
		opts = append(opts,
			temporal.WithAuthorizer(newZansocAuthorizer(*namespace, tokens, logger)),
			temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return mapper }),
			temporal.WithChainedFrontendGrpcInterceptors(tokens.interceptor))
	} else {
		logger.Warn("No TLS on the frontend: a development cluster, every caller is admin.")
		opts = append(opts,
			temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
			temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }))
	}
	if !reflect.ValueOf(cfg.Global.TLS).IsZero() {
		tls, err := encryption.NewTLSConfigProviderFromConfig(cfg.Global.TLS, metrics.NoopMetricsHandler, logger, nil)
		if err != nil {
			return fmt.Errorf("global.tls: %w", err)
		}
		opts = append(opts, temporal.WithTLSConfigFactory(tls))
	}
	server, err := temporal.NewServer(opts...)
	if err != nil {
		return fmt.Errorf("creating the server: %w", err)
	}
	// Start blocks until SIGINT or SIGTERM, then stops the services.
	if err := server.Start(); err != nil {
		return fmt.Errorf("starting the server: %w", err)
	}
	return nil
}

// readCertificate reads the first PEM certificate of a file.
func readCertificate(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return x509.ParseCertificate(block.Bytes)
}

// loadConfig reads one config file, where config.LoadConfig would merge a directory's base.yaml and <env>.yaml.
func loadConfig(file string) (*config.Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	cfg := &config.Config{}
	if err := yaml.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := validator.Validate(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return cfg, nil
}
