package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	uiapi "github.com/temporalio/ui-server/v2/server/api"
	uiauth "github.com/temporalio/ui-server/v2/server/auth"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uicors "github.com/temporalio/ui-server/v2/server/cors"
	uicsrf "github.com/temporalio/ui-server/v2/server/csrf"
	uiheaders "github.com/temporalio/ui-server/v2/server/headers"
	uiroute "github.com/temporalio/ui-server/v2/server/route"
	uiassets "github.com/temporalio/ui-server/v2/ui"
)

// runUI serves the Temporal Web UI (its assets are built into the ui-server module) against a cluster's frontend,
// behind the operator's login (uilogin.go).
func runUI(args []string) error {
	fs := flag.NewFlagSet("ui", flag.ExitOnError)
	address := fs.String("temporal-address", "127.0.0.1:7233", "the frontend's gRPC address")
	ip := fs.String("ip", "127.0.0.1", "the address the UI listens on")
	port := fs.Int("port", 8233, "the port the UI listens on")
	tlsCA := fs.String("tls-ca", "", "CA certificate file of the frontend, when it serves TLS")
	tlsCert := fs.String("tls-cert", "", "client certificate file for the frontend")
	tlsKey := fs.String("tls-key", "", "client key file for the frontend")
	tlsServerName := fs.String("tls-server-name", "", "server name to check in the frontend's certificate")
	loginFile := fs.String("login-file", "", "a file whose first line is the operator's user:password for the UI (or ZANSOC_UI_LOGIN)")
	secureCookie := fs.Bool("secure-cookie", false, "mark the session cookie Secure (when a TLS proxy serves the UI over https)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	login, err := loadUILogin(*loginFile, *secureCookie)
	if err != nil {
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
	handler, err := uiHandler(cfg)
	if err != nil {
		return err
	}
	server := &http.Server{Addr: net.JoinHostPort(*ip, strconv.Itoa(*port)), Handler: login.gate(handler), ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	failed := make(chan error, 1)
	go func() { failed <- server.ListenAndServe() }()
	select {
	case <-stop:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return server.Shutdown(ctx)
	case err := <-failed:
		return fmt.Errorf("the UI server stopped: %w", err)
	}
}

// uiHandler is the UI server as ui-server's own NewServer builds it (same middleware, routes and assets), as a
// handler this command serves itself, behind its login, instead of a server that listens on its own.
func uiHandler(cfg *uiconfig.Config) (http.Handler, error) {
	provider, err := uiconfig.NewConfigProviderWithRefresh(cfg)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.Use(middleware.Gzip())
	e.Use(uicors.CORSMiddleware(uicors.CORSConfig{
		AllowHeaders: []string{
			echo.HeaderOrigin, echo.HeaderContentType, echo.HeaderAccept,
			echo.HeaderXCSRFToken, echo.HeaderAuthorization, uiauth.AuthorizationExtrasHeader, "Caller-Type",
		},
		AllowCredentials: true,
		ConfigProvider:   provider,
	}))
	e.Use(middleware.Secure())
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{
		CookiePath: "/", CookieHTTPOnly: false, CookieSameSite: http.SameSiteStrictMode, CookieSecure: !cfg.CORS.CookieInsecure,
		Skipper: uicsrf.SkipOnAuthorizationHeader,
	}))
	e.Pre(uiroute.PublicPath(cfg.PublicPath))
	uiroute.SetHealthRoute(e)
	forward := []uiapi.Middleware{uiheaders.WithForwardHeaders([]string{uiauth.AuthorizationExtrasHeader, "Caller-Type"})}
	if err := uiroute.SetAPIRoutes(e, provider, forward); err != nil {
		return nil, err
	}
	uiroute.SetAuthRoutes(e, provider)
	assets, err := uiassets.Assets()
	if err != nil {
		return nil, err
	}
	local, err := fs.Sub(assets, "local")
	if err != nil {
		return nil, err
	}
	if err := uiroute.SetUIRoutes(e, cfg.PublicPath, local); err != nil {
		return nil, err
	}
	uiroute.SetRenderRoute(e, cfg.PublicPath)
	return e, nil
}
