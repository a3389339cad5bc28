package timers

import "time"

// ScheduleStale puts k at due in memory only, as a Load reading an older
// snapshot can: tests use it to check that the store, not memory, decides.
func (s *Service) ScheduleStale(k Key, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.scheduleLocked(k, due.UnixNano()); err != nil {
		panic(err)
	}
}
