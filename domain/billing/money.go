package billing

import (
	"fmt"
	"strconv"
	"strings"
)

// CurrencyDecimals returns how many digits of minor units Stripe counts
// the currency (ISO 4217, any case) in: 0 for the zero-decimal currencies
// (JPY, KRW…), 3 for BHD, JOD, KWD, OMR and TND, 2 for the others.
func CurrencyDecimals(currency string) int {
	switch strings.ToLower(currency) {
	case "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf":
		return 0
	case "bhd", "jod", "kwd", "omr", "tnd":
		return 3
	}
	return 2
}

// FormatAmount writes an amount of minor units for people: the major
// units with the currency's decimals and thousands separated by commas,
// after the currency's symbol for USD, EUR, GBP and JPY ("$1,990.00",
// "¥4,900"), else before its code ("1,990.00 CHF").
func FormatAmount(minor int64, currency string) string {
	sign := ""
	abs := uint64(minor)
	if minor < 0 {
		sign, abs = "-", uint64(-(minor+1))+1
	}
	digits := strconv.FormatUint(abs, 10)
	d := CurrencyDecimals(currency)
	if len(digits) <= d {
		digits = strings.Repeat("0", d-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-d], digits[len(digits)-d:]
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	number := b.String()
	if frac != "" {
		number += "." + frac
	}
	switch strings.ToLower(currency) {
	case "usd":
		return sign + "$" + number
	case "eur":
		return sign + "€" + number
	case "gbp":
		return sign + "£" + number
	case "jpy":
		return sign + "¥" + number
	}
	return sign + number + " " + strings.ToUpper(currency)
}

// FormatPrice writes a price for people: [FormatAmount] per interval
// ("$49.00/month", "$120.00/3 months"), or the amount alone for a price
// without an interval.
func FormatPrice(minor int64, currency, interval string, intervalCount int64) string {
	amount := FormatAmount(minor, currency)
	switch {
	case interval == "":
		return amount
	case intervalCount > 1:
		return fmt.Sprintf("%s/%d %ss", amount, intervalCount, interval)
	}
	return amount + "/" + interval
}
