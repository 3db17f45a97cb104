// Package planfile reads the plan catalogue file (PLANS_FILE): a YAML
// mapping whose top-level keys are tiers, each with name, description,
// features, limits and trialDays. A tier in the file replaces that tier's
// plan; a tier left out keeps the one it had.
//
// The document is walked node by node rather than decoded into structs
// (yaml's KnownFields reports an unknown key by line, not by where it
// is), so every problem is reported as a *billing.PlanError naming its
// key, such as "PRO.limits.members".
package planfile

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/safeclose/billing/domain/billing"
)

// Read reads the file at path over base ([Parse]).
func Read(path string, base billing.Catalogue) (billing.Catalogue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("read plans file: %w", err)
	}
	return Parse(data, base)
}

// Parse returns base with the plans the YAML document data gives. An
// empty document changes nothing. A problem with a key (an unknown tier
// or key, a value of the wrong kind, a rule of [billing.Plan.Validate])
// is a *billing.PlanError naming it; the first one found, in the file's
// order, is returned.
func Parse(data []byte, base billing.Catalogue) (billing.Catalogue, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return base, nil
	case err != nil:
		return base, fmt.Errorf("parse YAML: %s", oneLine(err.Error()))
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return base, errors.New("parse YAML: the file must hold one YAML document")
	}
	if len(doc.Content) == 0 {
		return base, nil
	}
	root := deref(doc.Content[0])
	if null(root) {
		return base, nil
	}
	if root.Kind != yaml.MappingNode {
		return base, errors.New("the top level must map tiers (FREE, STARTER, PRO, ENTERPRISE) to plans")
	}
	cat := base
	seen := map[string]bool{}
	for k, v := range pairs(root) {
		tier, err := billing.CatalogueTier(k)
		if err != nil {
			return base, err
		}
		if seen[k] {
			return base, &billing.PlanError{Key: k, Problem: "appears twice"}
		}
		seen[k] = true
		p, err := plan(tier, v)
		if err != nil {
			return base, err
		}
		if cat, err = cat.With(p); err != nil {
			return base, err
		}
	}
	return cat, nil
}

// plan reads one tier's entry.
func plan(tier billing.Tier, n *yaml.Node) (billing.Plan, error) {
	p := billing.Plan{Tier: tier, Features: []string{}, Limits: map[string]int64{}}
	if null(n) {
		return p, nil // Validate says the name is missing
	}
	if n.Kind != yaml.MappingNode {
		return p, &billing.PlanError{Key: string(tier), Problem: "must be a mapping with name, description, features, limits and trialDays"}
	}
	seen := map[string]bool{}
	for k, v := range pairs(n) {
		key := string(tier) + "." + k
		if seen[k] {
			return p, &billing.PlanError{Key: key, Problem: "appears twice"}
		}
		seen[k] = true
		var err error
		switch k {
		case "name":
			p.Name, err = text(key, v)
		case "description":
			p.Description, err = text(key, v)
		case "features":
			p.Features, err = features(key, v)
		case "limits":
			p.Limits, err = limits(key, v)
		case "trialDays":
			var days int64
			days, err = integer(key, v)
			p.TrialDays = int(days)
		default:
			err = &billing.PlanError{Key: key, Problem: "unknown key (the keys are name, description, features, limits and trialDays)"}
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func features(key string, n *yaml.Node) ([]string, error) {
	out := []string{}
	if null(n) {
		return out, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, &billing.PlanError{Key: key, Problem: "must be a list of strings"}
	}
	for i, item := range n.Content {
		s, err := text(fmt.Sprintf("%s[%d]", key, i), deref(item))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func limits(key string, n *yaml.Node) (map[string]int64, error) {
	out := map[string]int64{}
	if null(n) {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, &billing.PlanError{Key: key, Problem: "must be a mapping of names to whole numbers"}
	}
	for name, v := range pairs(n) {
		k := key + "." + name
		if _, dup := out[name]; dup {
			return nil, &billing.PlanError{Key: k, Problem: "appears twice"}
		}
		i, err := integer(k, v)
		if err != nil {
			return nil, err
		}
		out[name] = i
	}
	return out, nil
}

// text reads a scalar as its text: `name: 2026` is "2026". Null (`name:`
// or `name: ~`) is "", which a required name then refuses.
func text(key string, n *yaml.Node) (string, error) {
	if null(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", &billing.PlanError{Key: key, Problem: "must be a string"}
	}
	return n.Value, nil
}

// integer reads a YAML integer; a float (14.5, even 14.0), a string or
// anything else is refused rather than rounded.
func integer(key string, n *yaml.Node) (int64, error) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		return 0, &billing.PlanError{Key: key, Problem: "must be a whole number"}
	}
	return i, nil
}

// pairs yields a mapping's keys (their text) and values, aliases
// resolved, in the file's order.
func pairs(n *yaml.Node) iter.Seq2[string, *yaml.Node] {
	return func(yield func(string, *yaml.Node) bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !yield(n.Content[i].Value, deref(n.Content[i+1])) {
				return
			}
		}
	}
}

// deref follows aliases (`*anchor`) to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func null(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
