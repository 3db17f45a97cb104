package application

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// AfterAnswerTimeout bounds the work a use case leaves to run after it has
// answered (expiring superseded checkout sessions): it runs on a context
// of its own, not the request's, which ends with the answer.
const AfterAnswerTimeout = 10 * time.Second

// pending counts the work left to run after answering, so that the
// Service can wait for it on shutdown.
type pending struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

// afterAnswer runs fn in a goroutine the Service tracks ([Service.Drain]),
// on a context bounded by [AfterAnswerTimeout] that keeps ctx's values
// (the request id of the log lines) but not its end.
func (s *Service) afterAnswer(ctx context.Context, fn func(context.Context)) {
	s.pending.mu.Lock()
	if s.pending.n == 0 {
		s.pending.idle = make(chan struct{})
	}
	s.pending.n++
	s.pending.mu.Unlock()
	go func() {
		defer func() {
			s.pending.mu.Lock()
			if s.pending.n--; s.pending.n == 0 {
				close(s.pending.idle)
			}
			s.pending.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), AfterAnswerTimeout)
		defer cancel()
		fn(ctx)
	}()
}

// Drain waits until the work left to run after answering is done, or ctx
// ends. serve calls it on shutdown once the HTTP server has stopped taking
// requests, so that nothing started is lost.
func (s *Service) Drain(ctx context.Context) error {
	s.pending.mu.Lock()
	n, idle := s.pending.n, s.pending.idle
	s.pending.mu.Unlock()
	if n == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain the work left after answering (%d tasks): %w", n, ctx.Err())
	}
}
