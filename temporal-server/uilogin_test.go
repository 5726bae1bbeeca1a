package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testLogin(t *testing.T) *uiLogin {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ui-login")
	if err := os.WriteFile(file, []byte("operator:correct-horse-battery-staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	login, err := loadUILogin(file, false)
	if err != nil {
		t.Fatal(err)
	}
	return login
}

func behindGate(login *uiLogin) http.Handler {
	return login.gate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("the UI")) }))
}

func postLogin(h http.Handler, user, password, origin string) *httptest.ResponseRecorder {
	form := url.Values{"user": {user}, "password": {password}}
	r := httptest.NewRequest(http.MethodPost, uiLoginPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestUILoginRefusesWeakOrMalformedFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"short": "operator:short", "no-colon": "operator", "no-user": ":correct-horse-battery-staple"} {
		file := filepath.Join(dir, name)
		_ = os.WriteFile(file, []byte(content), 0o600)
		if _, err := loadUILogin(file, false); err == nil {
			t.Errorf("%s: accepted %q", name, content)
		}
	}
	if _, err := loadUILogin(filepath.Join(dir, "missing"), false); err == nil {
		t.Error("accepted a missing file")
	}
	t.Setenv("ZANSOC_UI_LOGIN", "")
	if _, err := loadUILogin("", false); err == nil {
		t.Error("started with no login at all")
	}
	t.Setenv("ZANSOC_UI_LOGIN", "operator:from-the-environment-1")
	if login, err := loadUILogin("", false); err != nil || login.user != "operator" || login.password != "from-the-environment-1" {
		t.Errorf("the login from ZANSOC_UI_LOGIN: %v %v", login, err)
	}
}

func TestUILoginGate(t *testing.T) {
	login := testLogin(t)
	h := behindGate(login)

	// Without a session: pages go to the login, the UI's API answers 401, the health check stays open.
	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/namespaces/default/workflows", nil))
	if page.Code != http.StatusSeeOther || page.Header().Get("Location") != uiLoginPath {
		t.Fatalf("page without a session: %d %q", page.Code, page.Header().Get("Location"))
	}
	api := httptest.NewRecorder()
	h.ServeHTTP(api, httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default", nil))
	if api.Code != http.StatusUnauthorized {
		t.Fatalf("API without a session: %d", api.Code)
	}
	health := httptest.NewRecorder()
	h.ServeHTTP(health, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if health.Code != http.StatusOK {
		t.Fatalf("health check: %d", health.Code)
	}

	// Wrong user or password, or a form posted from another site: no cookie.
	for _, w := range []*httptest.ResponseRecorder{
		postLogin(h, "operator", "wrong-password-wrong-password", ""),
		postLogin(h, "admin", "correct-horse-battery-staple", ""),
		postLogin(h, "operator", "correct-horse-battery-staple", "http://evil.example"),
	} {
		if w.Code == http.StatusSeeOther || len(w.Result().Cookies()) > 0 {
			t.Fatalf("a bad login got in: %d %v", w.Code, w.Result().Cookies())
		}
	}

	// The right login: a Strict, HttpOnly session cookie that opens the UI.
	ok := postLogin(h, "operator", "correct-horse-battery-staple", "http://example.com")
	cookies := ok.Result().Cookies()
	if ok.Code != http.StatusSeeOther || len(cookies) != 1 {
		t.Fatalf("login: %d %v", ok.Code, cookies)
	}
	session := cookies[0]
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie not HttpOnly and Strict: %+v", session)
	}
	in := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default", nil)
	in.AddCookie(session)
	got := httptest.NewRecorder()
	h.ServeHTTP(got, in)
	if got.Code != http.StatusOK || got.Body.String() != "the UI" {
		t.Fatalf("with the session: %d %q", got.Code, got.Body.String())
	}

	// A tampered cookie, one signed by another start (key), and an expired one: refused.
	for name, value := range map[string]string{
		"tampered":     strings.Replace(session.Value, session.Value[:3], "999", 1),
		"other key":    testLogin(t).sign(time.Now().Add(time.Hour).Unix()),
		"expired":      login.sign(time.Now().Add(-time.Minute).Unix()),
		"not a cookie": "garbage",
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default", nil)
		r.AddCookie(&http.Cookie{Name: uiSessionCookie, Value: value})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s session: %d", name, w.Code)
		}
	}
}
