package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CheckpointFormat is the version of the checkpoint document.
const CheckpointFormat = 1

// Head is one stream's entry in a checkpoint: its version and the hash of
// the event at that version (lowercase hex, as in the history).
type Head struct {
	OrgID   string `json:"orgId"`
	Version int64  `json:"version"`
	Hash    string `json:"hash"`
}

// Checkpoint is a signed statement of every stream's head at one instant:
// kept outside the database, it proves the ledger up to it unchanged even
// against someone who recomputed every later hash.
type Checkpoint struct {
	Format     int    `json:"format"`
	TakenAt    string `json:"takenAt"`
	Position   int64  `json:"position"`
	Streams    []Head `json:"streams"`
	MerkleRoot string `json:"merkleRoot"`
	Signature  string `json:"signature,omitempty"`
}

// Errors of checkpoints and proofs.
var (
	ErrBadSignature = errors.New("the checkpoint's signature does not verify with the public key")
	ErrBadDocument  = errors.New("not a checkpoint of this service")
	ErrBadProof     = errors.New("the proof does not lead to the checkpoint's Merkle root")
)

// NewCheckpoint returns the checkpoint of heads (in any order) taken at
// takenAt, after the ledger's global position, signed with key.
func NewCheckpoint(heads []Head, position int64, takenAt time.Time, key ed25519.PrivateKey) (Checkpoint, error) {
	streams := slices.Clone(heads)
	slices.SortFunc(streams, func(a, b Head) int { return strings.Compare(a.OrgID, b.OrgID) })
	if streams == nil {
		streams = []Head{}
	}
	cp := Checkpoint{Format: CheckpointFormat, TakenAt: takenAt.UTC().Truncate(time.Second).Format(time.RFC3339),
		Position: position, Streams: streams}
	root, err := merkleRoot(streams)
	if err != nil {
		return Checkpoint{}, err
	}
	cp.MerkleRoot = hex.EncodeToString(root)
	msg, err := cp.signedBytes()
	if err != nil {
		return Checkpoint{}, err
	}
	cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
	return cp, nil
}

// signedBytes is the RFC 8785 (JCS) canonical JSON of the checkpoint
// without its signature.
func (cp Checkpoint) signedBytes() ([]byte, error) {
	cp.Signature = ""
	doc, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	return CanonicalJCS(doc)
}

// ParseCheckpoint reads a checkpoint document and checks it against pub:
// its format, its signature, its streams in order and without repeats, and
// its Merkle root over them.
func ParseCheckpoint(doc []byte, pub ed25519.PublicKey) (Checkpoint, error) {
	var cp Checkpoint
	dec := json.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&cp); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadDocument, err)
	}
	if cp.Format != CheckpointFormat {
		return Checkpoint{}, fmt.Errorf("%w: format %d, want %d", ErrBadDocument, cp.Format, CheckpointFormat)
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Checkpoint{}, fmt.Errorf("%w: the signature is not base64 Ed25519", ErrBadSignature)
	}
	msg, err := cp.signedBytes()
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadDocument, err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return Checkpoint{}, ErrBadSignature
	}
	for i, h := range cp.Streams {
		if i > 0 && strings.Compare(cp.Streams[i-1].OrgID, h.OrgID) >= 0 {
			return Checkpoint{}, fmt.Errorf("%w: streams not sorted by orgId at %q", ErrBadDocument, h.OrgID)
		}
	}
	root, err := merkleRoot(cp.Streams)
	if err != nil || hex.EncodeToString(root) != cp.MerkleRoot {
		return Checkpoint{}, fmt.Errorf("%w: the Merkle root is not the one of its streams", ErrBadDocument)
	}
	return cp, nil
}

// Head returns the checkpoint's entry for orgID.
func (cp Checkpoint) Head(orgID string) (Head, bool) {
	i, ok := slices.BinarySearchFunc(cp.Streams, orgID, func(h Head, id string) int { return strings.Compare(h.OrgID, id) })
	if !ok {
		return Head{}, false
	}
	return cp.Streams[i], true
}

// Proof shows that one stream's head is in a checkpoint without showing
// the others: the leaf, its index among the checkpoint's streams, their
// number, and the sibling hashes from the leaf to the Merkle root (RFC
// 9162's inclusion proof).
type Proof struct {
	Format     int      `json:"format"`
	TakenAt    string   `json:"takenAt"`
	Position   int64    `json:"position"`
	MerkleRoot string   `json:"merkleRoot"`
	Stream     Head     `json:"stream"`
	Index      int      `json:"index"`
	TreeSize   int      `json:"treeSize"`
	Path       []string `json:"path"`
}

// Prove returns the inclusion proof of orgID's head in the checkpoint.
func (cp Checkpoint) Prove(orgID string) (Proof, error) {
	i, ok := slices.BinarySearchFunc(cp.Streams, orgID, func(h Head, id string) int { return strings.Compare(h.OrgID, id) })
	if !ok {
		return Proof{}, fmt.Errorf("org %s is not in the checkpoint", orgID)
	}
	leaves, err := leafHashes(cp.Streams)
	if err != nil {
		return Proof{}, err
	}
	path := []string{}
	for _, h := range auditPath(i, leaves) {
		path = append(path, hex.EncodeToString(h))
	}
	return Proof{Format: CheckpointFormat, TakenAt: cp.TakenAt, Position: cp.Position, MerkleRoot: cp.MerkleRoot,
		Stream: cp.Streams[i], Index: i, TreeSize: len(cp.Streams), Path: path}, nil
}

// VerifyProof checks that the proof's stream head is in the checkpoint:
// the path from its leaf leads to the checkpoint's Merkle root.
func (cp Checkpoint) VerifyProof(p Proof) error {
	if p.TreeSize != len(cp.Streams) || p.Index < 0 || p.Index >= p.TreeSize {
		return fmt.Errorf("%w: index %d of %d, the checkpoint has %d streams", ErrBadProof, p.Index, p.TreeSize, len(cp.Streams))
	}
	leaf, err := leafHash(p.Stream)
	if err != nil {
		return err
	}
	path := make([][]byte, len(p.Path))
	for i, s := range p.Path {
		if path[i], err = hex.DecodeString(s); err != nil || len(path[i]) != sha256.Size {
			return fmt.Errorf("%w: path[%d] is not a SHA-256 hex hash", ErrBadProof, i)
		}
	}
	root, ok := rootFromPath(p.Index, p.TreeSize, leaf, path)
	if !ok || hex.EncodeToString(root) != cp.MerkleRoot {
		return ErrBadProof
	}
	return nil
}

// The Merkle tree is RFC 9162's (RFC 6962's): a leaf is SHA-256(0x00 ‖
// JCS(head)), a node SHA-256(0x01 ‖ left ‖ right), a tree of n leaves
// split at the largest power of two below n; the empty tree's root is
// SHA-256 of nothing.

func leafHash(h Head) ([]byte, error) {
	doc, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	c, err := CanonicalJCS(doc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte{0}, c...))
	return sum[:], nil
}

func leafHashes(heads []Head) ([][]byte, error) {
	out := make([][]byte, len(heads))
	for i, h := range heads {
		l, err := leafHash(h)
		if err != nil {
			return nil, err
		}
		out[i] = l
	}
	return out, nil
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

func merkleRoot(heads []Head) ([]byte, error) {
	leaves, err := leafHashes(heads)
	if err != nil {
		return nil, err
	}
	return treeHash(leaves), nil
}

func treeHash(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		sum := sha256.Sum256(nil)
		return sum[:]
	case 1:
		return leaves[0]
	}
	k := split(len(leaves))
	return nodeHash(treeHash(leaves[:k]), treeHash(leaves[k:]))
}

// split is the largest power of two smaller than n (n > 1).
func split(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

// auditPath is RFC 9162's PATH(m, D[n]), leaf-side first.
func auditPath(m int, leaves [][]byte) [][]byte {
	if len(leaves) <= 1 {
		return nil
	}
	k := split(len(leaves))
	if m < k {
		return append(auditPath(m, leaves[:k]), treeHash(leaves[k:]))
	}
	return append(auditPath(m-k, leaves[k:]), treeHash(leaves[:k]))
}

// rootFromPath is RFC 9162's inclusion proof verification (2.1.3.2).
func rootFromPath(index, size int, leaf []byte, path [][]byte) ([]byte, bool) {
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return nil, false
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return r, sn == 0
}
