package main

import (
	"context"
	"sync"
	"time"

	"github.com/keydeletion/service/infra/localserver/catchup"
	"github.com/keydeletion/service/infra/localserver/localapi"
)

// clocks keeps each tenant's clock as an offset from the wall clock: all
// start at CLOCK_OFFSET and the clock API moves them one by one (package
// localapi). They live in memory: a restarted server starts every clock
// at CLOCK_OFFSET again.
type clocks struct {
	start time.Duration
	// moveTimeout bounds how long a move carries out what it brought due.
	moveTimeout time.Duration

	mu      sync.RWMutex
	offsets map[string]time.Duration // the tenants whose clock was moved

	// worker carries out what a move brought due (set once at start).
	worker *catchup.Worker
}

func newClocks(start, moveTimeout time.Duration) *clocks {
	return &clocks{start: start, moveTimeout: moveTimeout, offsets: map[string]time.Duration{}}
}

func (c *clocks) Start() time.Duration { return c.start }

func (c *clocks) MoveTimeout() time.Duration { return c.moveTimeout }

func (c *clocks) Offset(tenant string) time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if d, ok := c.offsets[tenant]; ok {
		return d
	}
	return c.start
}

// Now is tenant's time (a keys.Clock).
func (c *clocks) Now(tenant string) time.Time { return time.Now().Add(c.Offset(tenant)) }

// Latest is the latest time any tenant's clock shows: the expiry loop
// looks for due work up to it and checks each key by its owner's clock.
func (c *clocks) Latest() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	latest := c.start
	for _, d := range c.offsets {
		latest = max(latest, d)
	}
	return time.Now().Add(latest)
}

// Move sets tenant's clock and returns once everything due by its new time
// has been carried out, or at moveTimeout with what remains (the loop
// carries it out).
func (c *clocks) Move(ctx context.Context, tenant string, offset time.Duration) (localapi.Moved, error) {
	c.mu.Lock()
	if offset == c.start {
		delete(c.offsets, tenant)
	} else {
		c.offsets[tenant] = offset
	}
	c.mu.Unlock()
	// No new work after the timeout; work in flight at it gets a little
	// longer, and the route's budget leaves time to count what remains.
	stop := time.Now().Add(c.moveTimeout)
	work, cancel := context.WithDeadline(ctx, stop.Add(5*time.Second))
	defer cancel()
	res, err := c.worker.CatchUp(work, tenant, stop)
	moved := localapi.Moved{Finalized: res.Finalized, Complete: res.Complete}
	if err != nil || res.Complete {
		return moved, err
	}
	moved.Remaining, err = c.worker.DueCount(ctx, tenant)
	return moved, err
}
