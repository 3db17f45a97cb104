package signature_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/safeclose/billing/adapters/outbound/signature"
)

func TestSignVerifyAndStripesOwnVerifier(t *testing.T) {
	body := []byte(`{"orgId":"org_1","version":3}`)
	secret := "whsec_test"
	now := time.Now()
	h := signature.Sign(body, secret, now)
	if err := signature.Verify(body, h, secret, 0, now); err != nil {
		t.Fatal(err)
	}
	// Stripe's scheme exactly: stripe-go's verifier accepts our header.
	if err := webhook.ValidatePayloadWithTolerance(body, h, secret, 5*time.Minute); err != nil {
		t.Fatalf("stripe-go refuses the signature: %v", err)
	}
	for name, tc := range map[string]struct {
		body   []byte
		header string
		secret string
		now    time.Time
		want   error
	}{
		"another body":     {[]byte(`{"orgId":"org_2"}`), h, secret, now, signature.ErrMismatch},
		"another secret":   {body, h, "whsec_other", now, signature.ErrMismatch},
		"too old":          {body, h, secret, now.Add(6 * time.Minute), signature.ErrTooOld},
		"from the future":  {body, h, secret, now.Add(-6 * time.Minute), signature.ErrTooOld},
		"no v1":            {body, "t=1", secret, now, signature.ErrMalformed},
		"no t":             {body, "v1=00", secret, now, signature.ErrMalformed},
		"empty":            {body, "", secret, now, signature.ErrMalformed},
		"a second v1 good": {body, "v1=00," + h, secret, now, nil},
	} {
		if err := signature.Verify(tc.body, tc.header, tc.secret, 0, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
