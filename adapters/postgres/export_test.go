package postgres

// RememberHead makes s believe the hash of stream's event at version is
// hash (tests of a wrong belief).
func RememberHead(s *Store, stream string, version int64, hash []byte) {
	s.heads.Add(stream, streamHead{version: version, hash: hash})
}
