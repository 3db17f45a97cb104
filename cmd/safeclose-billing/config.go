package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	envparse "github.com/caarlos0/env/v11"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap/zapcore"

	"github.com/safeclose/billing/adapters/planfile"
	"github.com/safeclose/billing/domain/billing"
)

// Config is the service's configuration, read from the environment
// (docs/API.md, "Configuration").
type Config struct {
	DatabaseURL         string `env:"DATABASE_URL"`
	DatabaseReadURL     string `env:"DATABASE_READ_URL"`
	HTTPAddr            string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	AppBaseURL          string `env:"APP_BASE_URL" envDefault:"http://localhost:8080"`
	StripeSecretKey     string `env:"STRIPE_SECRET_KEY"`
	StripeWebhookSecret string `env:"STRIPE_WEBHOOK_SECRET"`
	StripeAPIBase       string `env:"STRIPE_API_BASE" envDefault:"https://api.stripe.com"`
	StripePriceStarter  string `env:"STRIPE_PRICE_STARTER"`
	StripePricePro      string `env:"STRIPE_PRICE_PRO"`
	StripePriceEnt      string `env:"STRIPE_PRICE_ENTERPRISE"`
	SessionCookieName   string `env:"SESSION_COOKIE_NAME" envDefault:"safeclose_session"`
	LogLevel            string `env:"LOG_LEVEL" envDefault:"info"`
	TrustedProxiesList  string `env:"HTTP_TRUSTED_PROXIES"`
	PlansFile           string `env:"PLANS_FILE"`
	LedgerSigningKey    string `env:"LEDGER_SIGNING_KEY"`
	LedgerPublicKey     string `env:"LEDGER_PUBLIC_KEY"`
	CheckpointInterval  string `env:"CHECKPOINT_INTERVAL"`
	CheckpointDir       string `env:"CHECKPOINT_DIR"`
	GraceDaysText       string `env:"BILLING_GRACE_DAYS" envDefault:"7"`
	OutboundURLList     string `env:"OUTBOUND_WEBHOOK_URLS"`
	OutboundSecret      string `env:"OUTBOUND_WEBHOOK_SECRET"`

	// TrustedProxies is HTTP_TRUSTED_PROXIES parsed.
	TrustedProxies []netip.Prefix
	// Plans is the built-in catalogue with PLANS_FILE's plans in place.
	Plans billing.Catalogue
	// SigningKey and PublicKey are LEDGER_SIGNING_KEY and
	// LEDGER_PUBLIC_KEY decoded (nil when not set); CheckpointEvery is
	// CHECKPOINT_INTERVAL (0: off).
	SigningKey      ed25519.PrivateKey
	PublicKey       ed25519.PublicKey
	CheckpointEvery time.Duration
	// Grace is BILLING_GRACE_DAYS as a duration.
	Grace time.Duration
	// OutboundURLs is OUTBOUND_WEBHOOK_URLS parsed, each once.
	OutboundURLs []string
}

// ConfigError names the setting that stops the program and, for a file
// such as PLANS_FILE, the key in it.
type ConfigError struct {
	Var, Problem string
	Key          string
}

func (e *ConfigError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("configuration: %s: %s: %s", e.Var, e.Key, e.Problem)
	}
	return fmt.Sprintf("configuration: %s %s", e.Var, e.Problem)
}

// needs says which settings a command cannot run without.
type needs struct {
	database bool
	stripe   bool // API key and prices
	webhook  bool // webhook signing secret
	signing  bool // LEDGER_SIGNING_KEY
	public   bool // LEDGER_PUBLIC_KEY
	outbound bool // outbound endpoints
}

// maxGraceDays bounds BILLING_GRACE_DAYS: ten years, far past any dunning
// schedule, and far from overflowing a duration.
const maxGraceDays = 3650

var cookieName = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_|~]+$`)

// loadConfig reads the environment and checks every setting that is set,
// and those the command needs. The first problem is returned as a
// *ConfigError.
func loadConfig(lookup func(string) (string, bool), n needs) (Config, error) {
	var c Config
	environ := map[string]string{}
	for _, k := range []string{"DATABASE_URL", "DATABASE_READ_URL", "HTTP_ADDR", "APP_BASE_URL", "STRIPE_SECRET_KEY",
		"STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "STRIPE_PRICE_STARTER", "STRIPE_PRICE_PRO", "STRIPE_PRICE_ENTERPRISE",
		"SESSION_COOKIE_NAME", "LOG_LEVEL", "HTTP_TRUSTED_PROXIES", "PLANS_FILE",
		"LEDGER_SIGNING_KEY", "LEDGER_PUBLIC_KEY", "CHECKPOINT_INTERVAL", "CHECKPOINT_DIR", "BILLING_GRACE_DAYS",
		"OUTBOUND_WEBHOOK_URLS", "OUTBOUND_WEBHOOK_SECRET"} {
		if v, ok := lookup(k); ok {
			environ[k] = v
		}
	}
	if err := envparse.ParseWithOptions(&c, envparse.Options{Environment: environ}); err != nil {
		return c, &ConfigError{Var: "environment", Problem: err.Error()}
	}
	if c.DatabaseReadURL == "" {
		c.DatabaseReadURL = c.DatabaseURL
	}
	required := []struct {
		name, value string
		need        bool
	}{
		{"DATABASE_URL", c.DatabaseURL, n.database},
		{"STRIPE_SECRET_KEY", c.StripeSecretKey, n.stripe},
		{"STRIPE_PRICE_STARTER", c.StripePriceStarter, n.stripe},
		{"STRIPE_PRICE_PRO", c.StripePricePro, n.stripe},
		{"STRIPE_PRICE_ENTERPRISE", c.StripePriceEnt, n.stripe},
		{"STRIPE_WEBHOOK_SECRET", c.StripeWebhookSecret, n.webhook},
		{"LEDGER_SIGNING_KEY", c.LedgerSigningKey, n.signing},
		{"LEDGER_PUBLIC_KEY", c.LedgerPublicKey, n.public},
		{"OUTBOUND_WEBHOOK_URLS", c.OutboundURLList, n.outbound},
	}
	for _, r := range required {
		if r.need && strings.TrimSpace(r.value) == "" {
			return c, &ConfigError{Var: r.name, Problem: "is not set"}
		}
	}
	checks := []struct {
		name, value string
		check       func(string) error
	}{
		{"DATABASE_URL", c.DatabaseURL, postgresURL},
		{"DATABASE_READ_URL", c.DatabaseReadURL, postgresURL},
		{"HTTP_ADDR", c.HTTPAddr, hostPort},
		{"APP_BASE_URL", c.AppBaseURL, origin},
		{"STRIPE_API_BASE", c.StripeAPIBase, httpURL},
		{"STRIPE_SECRET_KEY", c.StripeSecretKey, prefixed("sk_", "rk_")},
		{"STRIPE_WEBHOOK_SECRET", c.StripeWebhookSecret, prefixed("whsec_")},
		{"OUTBOUND_WEBHOOK_SECRET", c.OutboundSecret, prefixed("whsec_")},
		{"STRIPE_PRICE_STARTER", c.StripePriceStarter, noSpace},
		{"STRIPE_PRICE_PRO", c.StripePricePro, noSpace},
		{"STRIPE_PRICE_ENTERPRISE", c.StripePriceEnt, noSpace},
		{"SESSION_COOKIE_NAME", c.SessionCookieName, func(v string) error {
			if !cookieName.MatchString(v) {
				return errors.New("is not a valid cookie name")
			}
			return nil
		}},
		{"LOG_LEVEL", c.LogLevel, func(v string) error {
			if _, err := zapcore.ParseLevel(v); err != nil {
				return errors.New("must be debug, info, warn or error")
			}
			return nil
		}},
	}
	for _, ch := range checks {
		if ch.value == "" {
			continue
		}
		if err := ch.check(ch.value); err != nil {
			return c, &ConfigError{Var: ch.name, Problem: err.Error()}
		}
	}
	days, err := strconv.Atoi(strings.TrimSpace(c.GraceDaysText))
	if err != nil || days < 0 || days > maxGraceDays {
		return c, &ConfigError{Var: "BILLING_GRACE_DAYS", Problem: fmt.Sprintf("must be a whole number of days, 0 to %d", maxGraceDays)}
	}
	c.Grace = time.Duration(days) * 24 * time.Hour
	proxies, err := prefixes(c.TrustedProxiesList)
	if err != nil {
		return c, &ConfigError{Var: "HTTP_TRUSTED_PROXIES", Problem: err.Error()}
	}
	c.TrustedProxies = proxies
	if c.OutboundURLs, err = endpoints(c.OutboundURLList); err != nil {
		return c, &ConfigError{Var: "OUTBOUND_WEBHOOK_URLS", Problem: err.Error()}
	}
	if len(c.OutboundURLs) > 0 && c.OutboundSecret == "" {
		return c, &ConfigError{Var: "OUTBOUND_WEBHOOK_SECRET", Problem: "is not set (OUTBOUND_WEBHOOK_URLS needs it)"}
	}
	if c.Plans, err = plans(c.PlansFile); err != nil {
		return c, err
	}
	if err := c.checkpointSettings(); err != nil {
		return c, err
	}
	if n.stripe {
		prices := map[string]bool{}
		for _, p := range []string{c.StripePriceStarter, c.StripePricePro, c.StripePriceEnt} {
			if prices[p] {
				return c, &ConfigError{Var: "STRIPE_PRICE_*", Problem: "must name three different prices"}
			}
			prices[p] = true
		}
	}
	c.AppBaseURL = strings.TrimRight(c.AppBaseURL, "/")
	c.StripeAPIBase = strings.TrimRight(c.StripeAPIBase, "/")
	return c, nil
}

// plans returns the built-in catalogue with the plans of the file at path
// (PLANS_FILE, when set) in place; a problem is a *ConfigError naming the
// key when it is about one.
func plans(path string) (billing.Catalogue, error) {
	builtIn := billing.BuiltInCatalogue()
	if path == "" {
		return builtIn, nil
	}
	cat, err := planfile.Read(path, builtIn)
	var (
		pe   *billing.PlanError
		read *fs.PathError
	)
	switch {
	case errors.As(err, &pe):
		return builtIn, &ConfigError{Var: "PLANS_FILE", Key: pe.Key, Problem: pe.Problem}
	case errors.As(err, &read):
		return builtIn, &ConfigError{Var: "PLANS_FILE", Problem: "cannot be read: " + read.Error()}
	case err != nil:
		return builtIn, &ConfigError{Var: "PLANS_FILE", Problem: "is not a valid plans file: " + err.Error()}
	}
	return cat, nil
}

// postgresURL accepts what pgx connects to from a postgres:// URL,
// several hosts included (postgres://h1:5432,h2:5432/db?target_session_attrs=read-write),
// which net/url refuses.
func postgresURL(v string) error {
	if !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
		return errors.New("must be a postgres:// URL")
	}
	if _, err := pgconn.ParseConfig(v); err != nil {
		return errors.New("must be a postgres:// URL pgx can read (host[:port][,host[:port]…]/database?options)")
	}
	return nil
}

func hostPort(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return errors.New("must be host:port")
	}
	return nil
}

func httpURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL")
	}
	return nil
}

func origin(v string) error {
	if err := httpURL(v); err != nil {
		return err
	}
	u, _ := url.Parse(v)
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be an origin (scheme://host[:port]) without a path")
	}
	return nil
}

func prefixed(prefixes ...string) func(string) error {
	return func(v string) error {
		for _, p := range prefixes {
			if strings.HasPrefix(v, p) && len(v) > len(p) {
				return nil
			}
		}
		return fmt.Errorf("must start with %s", strings.Join(prefixes, " or "))
	}
}

// prefixes reads a comma-separated list of CIDRs ("10.0.0.0/8,
// 2001:db8::/32"); a lone address stands for itself (/32 or /128).
func prefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("must be comma-separated CIDRs: %q is not one", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// endpoints reads a comma-separated list of http(s) URLs, each kept once.
func endpoints(v string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" || seen[f] {
			continue
		}
		if err := httpURL(f); err != nil {
			return nil, fmt.Errorf("must be comma-separated http(s) URLs: %q is not one", outboundRedacted(f))
		}
		seen[f] = true
		out = append(out, f)
	}
	return out, nil
}

func noSpace(v string) error {
	if strings.ContainsAny(v, " \t\n") {
		return errors.New("must not contain spaces")
	}
	return nil
}

// checkpointSettings decodes the ledger keys and the checkpoint schedule.
// CHECKPOINT_INTERVAL needs CHECKPOINT_DIR, a directory, and
// LEDGER_SIGNING_KEY.
func (c *Config) checkpointSettings() error {
	if c.LedgerSigningKey != "" {
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.LedgerSigningKey))
		if err != nil || len(seed) != ed25519.SeedSize {
			return &ConfigError{Var: "LEDGER_SIGNING_KEY", Problem: "must be a base64 Ed25519 private seed of 32 bytes"}
		}
		c.SigningKey = ed25519.NewKeyFromSeed(seed)
	}
	if c.LedgerPublicKey != "" {
		pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.LedgerPublicKey))
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return &ConfigError{Var: "LEDGER_PUBLIC_KEY", Problem: "must be a base64 Ed25519 public key of 32 bytes"}
		}
		c.PublicKey = pub
	}
	if c.CheckpointInterval == "" {
		return nil
	}
	every, err := time.ParseDuration(c.CheckpointInterval)
	switch {
	case err != nil || every < 0:
		return &ConfigError{Var: "CHECKPOINT_INTERVAL", Problem: "must be a duration such as 1h or 15m (0 turns checkpoints off)"}
	case every == 0:
		return nil
	case every < time.Second:
		return &ConfigError{Var: "CHECKPOINT_INTERVAL", Problem: "must be at least 1s"}
	case c.CheckpointDir == "":
		return &ConfigError{Var: "CHECKPOINT_DIR", Problem: "is not set (CHECKPOINT_INTERVAL needs the directory to write checkpoints to)"}
	case c.SigningKey == nil:
		return &ConfigError{Var: "LEDGER_SIGNING_KEY", Problem: "is not set (CHECKPOINT_INTERVAL signs checkpoints with it)"}
	}
	if st, err := os.Stat(c.CheckpointDir); err != nil || !st.IsDir() {
		return &ConfigError{Var: "CHECKPOINT_DIR", Problem: "must be an existing directory"}
	}
	c.CheckpointEvery = every
	return nil
}
