package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The Web UI acts as the operator: it reaches the frontend with the operator's certificate, so whoever uses it may
// do all an operator may (describe, signal, terminate any workflow). uiLogin puts a login in front of all of it.
//
// A login is a session cookie: HttpOnly and SameSite=Strict, so no other site's page can make a browser send it, and
// signed with a key made at start, so it cannot be forged and a restart logs everyone out. (HTTP basic auth would
// not do: the browser sends it with every request, cross-site ones too, and the UI skips its CSRF check for any
// request carrying an Authorization header.)

const (
	uiSessionCookie = "zansoc_ui_session"
	uiLoginPath     = "/zansoc/login"
	uiSessionTTL    = 12 * time.Hour
)

type uiLogin struct {
	user, password string
	key            []byte
	secure         bool
	now            func() time.Time
}

// loadUILogin reads `user:password` from the first line of file, or, with no file, from the environment variable
// ZANSOC_UI_LOGIN (as compose passes it). The password must be at least 16 characters: this login is all that stands
// between the network and the operator's powers.
func loadUILogin(file string, secureCookie bool) (*uiLogin, error) {
	source, line := "ZANSOC_UI_LOGIN", os.Getenv("ZANSOC_UI_LOGIN")
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--login-file: %w", err)
		}
		source, line = "--login-file "+file, strings.SplitN(string(raw), "\n", 2)[0]
	} else if line == "" {
		return nil, errors.New("the UI acts with the operator's identity, so it needs the operator's login: give --login-file, or set ZANSOC_UI_LOGIN to user:password")
	}
	user, password, found := strings.Cut(strings.TrimSpace(line), ":")
	if !found || user == "" {
		return nil, fmt.Errorf("%s: the login must be user:password", source)
	}
	if len(password) < 16 {
		return nil, fmt.Errorf("%s: the password must be at least 16 characters (it has %d)", source, len(password))
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &uiLogin{user: user, password: password, key: key, secure: secureCookie, now: time.Now}, nil
}

func (l *uiLogin) sign(expires int64) string {
	mac := hmac.New(sha256.New, l.key)
	fmt.Fprintf(mac, "%s|%d", l.user, expires)
	return strconv.FormatInt(expires, 10) + "." + hex.EncodeToString(mac.Sum(nil))
}

func (l *uiLogin) validSession(r *http.Request) bool {
	cookie, err := r.Cookie(uiSessionCookie)
	if err != nil {
		return false
	}
	expiresText, _, found := strings.Cut(cookie.Value, ".")
	expires, err := strconv.ParseInt(expiresText, 10, 64)
	if !found || err != nil || l.now().Unix() >= expires {
		return false
	}
	return hmac.Equal([]byte(cookie.Value), []byte(l.sign(expires)))
}

func equalSecret(given, want string) bool {
	// Hash both first, so the comparison takes the same time whatever their lengths.
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// gate serves the login page and lets through only requests with a valid session (and the health check).
func (l *uiLogin) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			next.ServeHTTP(w, r)
		case r.URL.Path == uiLoginPath:
			l.serveLogin(w, r)
		case l.validSession(r):
			next.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/api/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"message":"log in to the Temporal UI first (POST %s)"}`, uiLoginPath)
		default:
			http.Redirect(w, r, uiLoginPath, http.StatusSeeOther)
		}
	})
}

func (l *uiLogin) serveLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet:
		writeLoginPage(w, http.StatusOK, "")
	case http.MethodPost:
		// A login form posted from another site would log the browser in to a session its owner did not ask for.
		if origin := r.Header.Get("Origin"); origin != "" && origin != "null" && !sameOrigin(origin, r) {
			writeLoginPage(w, http.StatusForbidden, "This login came from another site.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			writeLoginPage(w, http.StatusBadRequest, "The form could not be read.")
			return
		}
		userOK := equalSecret(r.PostForm.Get("user"), l.user)
		passwordOK := equalSecret(r.PostForm.Get("password"), l.password)
		if !userOK || !passwordOK {
			writeLoginPage(w, http.StatusUnauthorized, "Wrong user or password.")
			return
		}
		expires := l.now().Add(uiSessionTTL)
		http.SetCookie(w, &http.Cookie{
			Name: uiSessionCookie, Value: l.sign(expires.Unix()), Path: "/", Expires: expires,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: l.secure,
		})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func sameOrigin(origin string, r *http.Request) bool {
	return strings.TrimPrefix(strings.TrimPrefix(origin, "http://"), "https://") == r.Host
}

func writeLoginPage(w http.ResponseWriter, status int, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	message := ""
	if problem != "" {
		message = `<p style="color:#b00">` + html.EscapeString(problem) + `</p>`
	}
	fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>Zansoc: Temporal UI login</title></head>
<body style="font-family:sans-serif;max-width:24em;margin:4em auto">
<h1>Temporal UI</h1><p>Zansoc's operators only: the UI acts with the operator's identity.</p>%s
<form method="post" action="%s">
<p><label>User <input name="user" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p>
</form></body></html>`, message, uiLoginPath)
}
