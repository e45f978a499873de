// The SQLite store as IngestQueue and DeliveryQueue: the queue as segments
// (segment_pack.h), leases and finished events in memory, and every outcome write.
#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "host/store/segment_pack.h"
#include "host/store/sqlite_rows.h"
#include "host/store/sqlite_store.h"

namespace signal_host::sqlite_store {

// Inserts one queue segment; `segment` gets its row id.
absl::Status InsertSegment(Connection& db, std::string_view integration_id, uint32_t event_count,
                           uint32_t attempts, int64_t enqueued_at_ms, int64_t first_attempt_at_ms,
                           int64_t next_attempt_at_ms, std::string_view events, int64_t& segment) {
  STORE_ASSIGN_OR_RETURN(
      Statement insert,
      db.Prepare("INSERT INTO queue_segments (integration_id, event_count, attempts, "
                 "enqueued_at_ms, first_attempt_at_ms, next_attempt_at_ms, events) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  STORE_RETURN_IF_ERROR(insert.BindText(1, integration_id)
                            .Bind(2, event_count)
                            .Bind(3, attempts)
                            .Bind(4, enqueued_at_ms)
                            .Bind(5, first_attempt_at_ms)
                            .Bind(6, next_attempt_at_ms)
                            .BindBlobNoCopy(7, events)
                            .Run());
  segment = sqlite3_last_insert_rowid(db.handle());
  if (segment >= (int64_t{1} << (62 - segment::kSegmentIndexBits))) {
    return absl::ResourceExhaustedError("queue segment ids are exhausted");
  }
  return absl::OkStatus();
}

// Schema version 2's data step: rows of the version-1 `queue` table (one per event)
// become one-event segments, then the old table goes.
absl::Status MoveV1QueueIntoSegments(Connection& db) {
  STORE_ASSIGN_OR_RETURN(
      int64_t has_v1_queue,
      db.QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'queue'"));
  if (has_v1_queue == 0) return absl::OkStatus();
  STORE_ASSIGN_OR_RETURN(
      Statement rows,
      db.Prepare("SELECT integration_id, message_id, attempts, enqueued_at_ms, "
                 "first_attempt_at_ms, next_attempt_at_ms, payload FROM queue ORDER BY seq"));
  std::string packed;
  for (;;) {
    STORE_ASSIGN_OR_RETURN(bool row, rows.Step());
    if (!row) break;
    packed.clear();
    segment::AppendEvent(packed, rows.View(1), rows.View(6));
    int64_t segment = 0;
    STORE_RETURN_IF_ERROR(InsertSegment(db, rows.View(0), 1, static_cast<uint32_t>(rows.Int(2)),
                                        rows.Int(3), rows.Int(4), rows.Int(5), packed, segment));
  }
  return db.Exec("DROP TABLE queue");
}

// ---------------------------------------------------------------------------------
// Queue: segments (see segment_pack.h and the schema's version 2).

namespace {

// A segment's row without its events.
struct SegmentRow {
  int64_t segment = 0;
  std::string integration_id;
  uint32_t event_count = 0;
  uint32_t attempts = 0;
  int64_t enqueued_at_ms = 0;
  int64_t first_attempt_at_ms = 0;
  std::string done;  // progress bitmap, one bit per event

  bool IsDone(uint32_t index) const {
    return index / 8 < done.size() && ((Byte(index / 8) >> (index % 8)) & 1);
  }
  void SetDone(uint32_t index) {
    if (done.size() < (event_count + 7) / 8) done.resize((event_count + 7) / 8, '\0');
    done[index / 8] = static_cast<char>(Byte(index / 8) | (1u << (index % 8)));
  }
  uint32_t DoneCount() const {
    uint32_t count = 0;
    for (size_t i = 0; i < done.size(); ++i) count += __builtin_popcount(Byte(i));
    return count;
  }

 private:
  uint8_t Byte(size_t i) const { return static_cast<uint8_t>(done[i]); }
};

absl::StatusOr<std::optional<SegmentRow>> ReadSegmentRow(Connection& db, int64_t segment) {
  STORE_ASSIGN_OR_RETURN(
      Statement stmt,
      db.Prepare("SELECT s.integration_id, s.event_count, s.attempts, s.enqueued_at_ms, "
                 "s.first_attempt_at_ms, p.done FROM queue_segments s "
                 "LEFT JOIN queue_segment_progress p ON p.seq = s.seq WHERE s.seq = ?1"));
  stmt.Bind(1, segment);
  STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<SegmentRow>();
  SegmentRow row;
  row.segment = segment;
  row.integration_id = stmt.Text(0);
  row.event_count = static_cast<uint32_t>(stmt.Int(1));
  row.attempts = static_cast<uint32_t>(stmt.Int(2));
  row.enqueued_at_ms = stmt.Int(3);
  row.first_attempt_at_ms = stmt.Int(4);
  if (!stmt.IsNull(5)) row.done = stmt.Text(5);
  return std::optional<SegmentRow>(std::move(row));
}

// Reads a segment's packed events into `packed` and splits them into `events`, which
// view `packed` (so the caller keeps it alive and unmoved while using them).
absl::Status ReadSegmentEvents(Connection& db, int64_t segment, uint32_t event_count,
                               std::string& packed, std::vector<segment::PackedEvent>& events) {
  STORE_ASSIGN_OR_RETURN(Statement stmt,
                         db.Prepare("SELECT events FROM queue_segments WHERE seq = ?1"));
  stmt.Bind(1, segment);
  STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no queue segment ", segment));
  packed = stmt.Text(0);
  if (!segment::Unpack(packed, events) || events.size() != event_count) {
    return absl::DataLossError(absl::StrCat("queue segment ", segment, " is corrupt"));
  }
  return absl::OkStatus();
}

// Event seqs grouped by segment, segments in ascending order, indexes deduplicated.
std::vector<std::pair<int64_t, std::vector<uint32_t>>> GroupBySegment(
    std::span<const int64_t> seqs) {
  absl::flat_hash_map<int64_t, std::vector<uint32_t>> by_segment;
  for (int64_t seq : seqs) {
    if (seq <= 0) continue;
    by_segment[segment::SegmentOf(seq)].push_back(segment::IndexOf(seq));
  }
  std::vector<std::pair<int64_t, std::vector<uint32_t>>> groups(by_segment.begin(),
                                                                by_segment.end());
  std::sort(groups.begin(), groups.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [segment, indexes] : groups) {
    std::sort(indexes.begin(), indexes.end());
    indexes.erase(std::unique(indexes.begin(), indexes.end()), indexes.end());
  }
  return groups;
}

// Of `indexes`, those that exist in the segment and are not finished yet.
std::vector<uint32_t> PendingOf(const SegmentRow& row, const std::vector<uint32_t>& indexes) {
  std::vector<uint32_t> pending;
  pending.reserve(indexes.size());
  for (uint32_t index : indexes) {
    if (index < row.event_count && !row.IsDone(index)) pending.push_back(index);
  }
  return pending;
}

// Marks `pending` (unfinished events of `row`) finished: the progress row is updated,
// or the segment deleted once nothing in it is left. Takes them out of the depth.
absl::Status FinishInSegment(Connection& db, SegmentRow& row, std::vector<uint32_t> pending,
                             WriteEffects& effects) {
  if (pending.empty()) return absl::OkStatus();
  for (uint32_t index : pending) row.SetDone(index);
  effects.depth_deltas[row.integration_id] -= static_cast<int64_t>(pending.size());
  SegmentChange& change = effects.segment_changes.emplace_back();
  change.segment = row.segment;
  change.event_count = row.event_count;
  if (row.DoneCount() == row.event_count) {
    STORE_ASSIGN_OR_RETURN(Statement remove,
                           db.Prepare("DELETE FROM queue_segments WHERE seq = ?1"));
    STORE_RETURN_IF_ERROR(remove.Bind(1, row.segment).Run());
    STORE_ASSIGN_OR_RETURN(Statement progress,
                           db.Prepare("DELETE FROM queue_segment_progress WHERE seq = ?1"));
    STORE_RETURN_IF_ERROR(progress.Bind(1, row.segment).Run());
    change.removed = true;
    return absl::OkStatus();
  }
  STORE_ASSIGN_OR_RETURN(
      Statement progress,
      db.Prepare("INSERT OR REPLACE INTO queue_segment_progress (seq, done) VALUES (?1, ?2)"));
  STORE_RETURN_IF_ERROR(progress.Bind(1, row.segment).BindBlob(2, row.done).Run());
  change.finished = std::move(pending);
  return absl::OkStatus();
}

}  // namespace

// In-memory segment state (lease_mu_ held).

SqliteStore::SegmentState& SqliteStore::StateFor(int64_t segment, uint32_t event_count) {
  SegmentState& state = segments_[segment];
  if (state.flags.size() < event_count) state.flags.resize(event_count, 0);
  return state;
}

void SqliteStore::MarkFinished(int64_t segment, uint32_t event_count,
                               std::span<const uint32_t> indexes) {
  SegmentState& state = StateFor(segment, event_count);
  for (uint32_t index : indexes) {
    if (index >= state.flags.size()) continue;
    uint8_t& flags = state.flags[index];
    if (flags & SegmentState::kFinished) continue;
    if (flags == 0) ++state.unavailable;
    flags |= SegmentState::kFinished;
  }
}

void SqliteStore::ReleaseLocked(std::span<const int64_t> seqs) {
  for (int64_t seq : seqs) {
    auto it = segments_.find(segment::SegmentOf(seq));
    if (it == segments_.end()) continue;
    SegmentState& state = it->second;
    const uint32_t index = segment::IndexOf(seq);
    if (index >= state.flags.size() || !(state.flags[index] & SegmentState::kLeased)) continue;
    state.flags[index] &= static_cast<uint8_t>(~SegmentState::kLeased);
    if (state.flags[index] == 0) --state.unavailable;
    // A segment with nothing leased or finished needs no state.
    if (state.unavailable == 0) segments_.erase(it);
  }
}

void SqliteStore::CacheSegment(NewSegment segment) {
  const size_t budget = options_.segment_cache_bytes;
  if (budget == 0 || segment.events->size() > budget) return;
  cache_bytes_ += segment.events->size();
  cache_order_.push_back(segment.segment);
  cache_[segment.segment] = CachedSegment{std::move(segment.events), segment.event_count,
                                          segment.enqueued_at_ms};
  // Oldest first; entries already dropped cost nothing but their slot here.
  while (!cache_order_.empty() &&
         (cache_bytes_ > budget || !cache_.contains(cache_order_.front()))) {
    DropCached(cache_order_.front());
    cache_order_.pop_front();
  }
  // A long-lived oldest entry (say, an integration that is held) would keep the slots
  // of everything dropped after it: compact once they outnumber the live entries.
  if (cache_order_.size() > 2 * cache_.size() + 64) {
    std::erase_if(cache_order_, [&](int64_t id) { return !cache_.contains(id); });
  }
}

void SqliteStore::DropCached(int64_t segment) {
  auto it = cache_.find(segment);
  if (it == cache_.end()) return;
  cache_bytes_ -= it->second.events->size();
  cache_.erase(it);
}

absl::Status SqliteStore::Enqueue(std::span<const EnqueueItem> items) {
  if (items.empty()) return absl::OkStatus();
  for (const EnqueueItem& item : items) {
    if (item.integration_id.empty() || item.message_id.empty()) {
      return absl::InvalidArgumentError(
          "every queued event needs an integration id and a message id");
    }
  }
  // Packed here, on the caller's thread, so that the committer only inserts.
  struct Pending {
    std::string_view integration_id;
    uint32_t event_count = 0;
    std::shared_ptr<std::string> events;
  };
  std::vector<Pending> segments;
  {
    absl::flat_hash_map<std::string_view, size_t> open;  // integration -> its last segment
    for (const EnqueueItem& item : items) {
      auto it = open.find(item.integration_id);
      if (it == open.end() || segments[it->second].event_count == segment::kMaxEventsPerSegment ||
          segments[it->second].events->size() + segment::PackedSize(item.message_id, item.payload) >
              segment::kMaxSegmentBytes) {
        segments.push_back(Pending{item.integration_id, 0, std::make_shared<std::string>()});
        open[item.integration_id] = segments.size() - 1;
        it = open.find(item.integration_id);
      }
      Pending& segment = segments[it->second];
      segment::AppendEvent(*segment.events, item.message_id, item.payload);
      ++segment.event_count;
    }
  }
  const int64_t now = clock_();
  return Write([&](Connection& db, WriteEffects& effects) -> absl::Status {
    {
      STORE_ASSIGN_OR_RETURN(Statement exists,
                             db.Prepare("SELECT 1 FROM integrations WHERE id = ?1"));
      for (const Pending& segment : segments) {
        if (effects.depth_deltas.contains(Av(segment.integration_id))) continue;
        exists.Reset();
        exists.BindText(1, segment.integration_id);
        STORE_ASSIGN_OR_RETURN(bool found, exists.Step());
        if (!found) {
          return absl::NotFoundError(absl::StrCat("no integration ", Av(segment.integration_id)));
        }
        effects.depth_deltas[std::string(segment.integration_id)] = 0;
      }
    }
    for (const Pending& pending : segments) {
      int64_t segment = 0;
      STORE_RETURN_IF_ERROR(InsertSegment(db, pending.integration_id, pending.event_count, 0, now,
                                          0, now, *pending.events, segment));
      effects.depth_deltas.find(Av(pending.integration_id))->second += pending.event_count;
      effects.new_segments.push_back(NewSegment{segment, pending.events, pending.event_count, now});
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<QueuedEvent>> SqliteStore::Lease(std::string_view integration_id,
                                                            size_t max, int64_t now_ms) {
  std::vector<QueuedEvent> events;
  if (max == 0) return events;
  // Held across the query: a commit that finishes a leased event marks it finished
  // and drops its lease in one step under this mutex, so a query here either still
  // sees it leased or sees it finished (or its row gone). Never neither.
  std::lock_guard<std::mutex> lock(lease_mu_);
  // Only the due index is read to walk segments; a segment's row (or its cached copy)
  // is fetched only when it has events left to lease.
  STORE_ASSIGN_OR_RETURN(
      Statement due,
      lease_db_->Prepare("SELECT seq FROM queue_segments WHERE integration_id = ?1 AND "
                         "next_attempt_at_ms <= ?2 ORDER BY next_attempt_at_ms, seq"));
  due.BindText(1, integration_id).Bind(2, now_ms);
  std::vector<segment::PackedEvent> unpacked;
  while (events.size() < max) {
    STORE_ASSIGN_OR_RETURN(bool row, due.Step());
    if (!row) break;
    const int64_t segment = due.Int(0);
    auto state_it = segments_.find(segment);
    if (state_it != segments_.end() &&
        state_it->second.unavailable >= state_it->second.flags.size()) {
      continue;  // everything in it is leased or finished
    }
    uint32_t attempts = 0;
    int64_t enqueued_at = 0, first_attempt_at = 0, next_attempt_at = 0;
    std::shared_ptr<const std::string> cached_events;
    std::optional<Statement> fetched;  // keeps the row's bytes alive while unpacked
    std::string_view packed;
    uint32_t event_count = 0;
    if (auto cached = cache_.find(segment); cached != cache_.end()) {
      cached_events = cached->second.events;
      packed = *cached_events;
      event_count = cached->second.event_count;
      enqueued_at = next_attempt_at = cached->second.enqueued_at_ms;
    } else {
      STORE_ASSIGN_OR_RETURN(
          Statement stmt,
          lease_db_->Prepare("SELECT event_count, attempts, enqueued_at_ms, first_attempt_at_ms, "
                             "next_attempt_at_ms, events FROM queue_segments WHERE seq = ?1"));
      stmt.Bind(1, segment);
      STORE_ASSIGN_OR_RETURN(bool found, stmt.Step());
      if (!found) continue;
      event_count = static_cast<uint32_t>(stmt.Int(0));
      attempts = static_cast<uint32_t>(stmt.Int(1));
      enqueued_at = stmt.Int(2);
      first_attempt_at = stmt.Int(3);
      next_attempt_at = stmt.Int(4);
      packed = stmt.View(5);
      fetched.emplace(std::move(stmt));
    }
    if (!segment::Unpack(packed, unpacked) || unpacked.size() != event_count) {
      return absl::DataLossError(absl::StrCat("queue segment ", segment, " is corrupt"));
    }
    SegmentState& state = StateFor(segment, event_count);
    for (uint32_t index = 0; index < event_count && events.size() < max; ++index) {
      uint8_t& flags = state.flags[index];
      if (flags != 0) continue;
      flags = SegmentState::kLeased;
      ++state.unavailable;
      QueuedEvent& event = events.emplace_back();
      event.seq = segment::EventSeq(segment, index);
      event.integration_id = std::string(integration_id);
      event.message_id = std::string(unpacked[index].message_id);
      event.payload = std::string(unpacked[index].payload);
      event.attempts = attempts;
      event.enqueued_at_ms = enqueued_at;
      event.first_attempt_at_ms = first_attempt_at;
      event.next_attempt_at_ms = next_attempt_at;
    }
  }
  return events;
}

void SqliteStore::Release(std::span<const int64_t> seqs) {
  std::lock_guard<std::mutex> lock(lease_mu_);
  ReleaseLocked(seqs);
}

absl::Status SqliteStore::CompleteIn(Connection& db, std::span<const int64_t> seqs,
                                     WriteEffects& effects) {
  for (auto& [segment, indexes] : GroupBySegment(seqs)) {
    STORE_ASSIGN_OR_RETURN(std::optional<SegmentRow> row, ReadSegmentRow(db, segment));
    if (!row.has_value()) continue;  // already gone
    STORE_RETURN_IF_ERROR(FinishInSegment(db, *row, PendingOf(*row, indexes), effects));
  }
  effects.released.insert(effects.released.end(), seqs.begin(), seqs.end());
  return absl::OkStatus();
}

absl::Status SqliteStore::Complete(std::span<const int64_t> seqs) {
  if (seqs.empty()) return absl::OkStatus();
  return WriteRelaxed([&](Connection& db, WriteEffects& effects) -> absl::Status {
    return CompleteIn(db, seqs, effects);
  });
}

void SqliteStore::CompleteAndRecordAsync(std::vector<int64_t> seqs, AttemptRecord attempt,
                                         AsyncDone done) {
  if (attempt.created_at_ms == 0) attempt.created_at_ms = clock_();
  struct Job {
    std::vector<int64_t> seqs;
    AttemptRecord attempt;
    std::string message_ids;
  };
  auto job = std::make_shared<Job>();
  job->message_ids = JsonStringArray(attempt.message_ids);
  job->seqs = std::move(seqs);
  job->attempt = std::move(attempt);
  if (job->attempt.integration_id.empty()) {
    done(absl::InvalidArgumentError("an attempt record needs an integration_id"), job->attempt);
    return;
  }
  SubmitAsync(
      [this, job](Connection& db, WriteEffects& effects) -> absl::Status {
        STORE_RETURN_IF_ERROR(InsertAttempt(db, job->attempt, job->message_ids, effects));
        return CompleteIn(db, job->seqs, effects);
      },
      [job, done = std::move(done)](absl::Status status) {
        if (!status.ok()) job->attempt.id = 0;  // its insert was rolled back
        done(status, job->attempt);
      });
}

absl::Status SqliteStore::ScheduleRetry(std::span<const int64_t> seqs, int64_t next_attempt_at_ms,
                                        int64_t attempted_at_ms) {
  if (seqs.empty()) return absl::OkStatus();
  return WriteRelaxed([&](Connection& db, WriteEffects& effects) -> absl::Status {
    std::vector<segment::PackedEvent> unpacked;
    for (auto& [segment, indexes] : GroupBySegment(seqs)) {
      STORE_ASSIGN_OR_RETURN(std::optional<SegmentRow> row, ReadSegmentRow(db, segment));
      if (!row.has_value()) continue;
      std::vector<uint32_t> pending = PendingOf(*row, indexes);
      if (pending.empty()) continue;
      const int64_t first =
          row->first_attempt_at_ms == 0 ? attempted_at_ms : row->first_attempt_at_ms;
      if (pending.size() == row->event_count - row->DoneCount()) {
        // Every event left in the segment: reschedule the segment in place.
        STORE_ASSIGN_OR_RETURN(
            Statement update,
            db.Prepare("UPDATE queue_segments SET attempts = attempts + 1, "
                       "next_attempt_at_ms = ?2, first_attempt_at_ms = ?3 WHERE seq = ?1"));
        STORE_RETURN_IF_ERROR(
            update.Bind(1, segment).Bind(2, next_attempt_at_ms).Bind(3, first).Run());
        SegmentChange& change = effects.segment_changes.emplace_back();
        change.segment = segment;
        change.event_count = row->event_count;
        change.rescheduled = true;
        continue;
      }
      // Only some: they move to a segment of their own with the new schedule.
      std::string packed;
      STORE_RETURN_IF_ERROR(ReadSegmentEvents(db, segment, row->event_count, packed, unpacked));
      std::string moved;
      for (uint32_t index : pending) {
        segment::AppendEvent(moved, unpacked[index].message_id, unpacked[index].payload);
      }
      int64_t new_segment = 0;
      STORE_RETURN_IF_ERROR(InsertSegment(db, row->integration_id,
                                          static_cast<uint32_t>(pending.size()),
                                          row->attempts + 1, row->enqueued_at_ms, first,
                                          next_attempt_at_ms, moved, new_segment));
      effects.depth_deltas[row->integration_id] += static_cast<int64_t>(pending.size());
      STORE_RETURN_IF_ERROR(FinishInSegment(db, *row, std::move(pending), effects));
    }
    effects.released.insert(effects.released.end(), seqs.begin(), seqs.end());
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::DeadLetterEvents(std::span<const int64_t> seqs, std::string_view reason,
                                           std::string_view message, int32_t last_status,
                                           std::string_view last_response,
                                           uint32_t attempts_added) {
  if (seqs.empty()) return absl::OkStatus();
  const int64_t now = clock_();
  return WriteRelaxed([&](Connection& db, WriteEffects& effects) -> absl::Status {
    STORE_ASSIGN_OR_RETURN(
        Statement insert,
        db.Prepare("INSERT INTO dead_letters (integration_id, message_id, reason, message, "
                   "last_status, attempts, created_at_ms, replayed, last_response, payload) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9)"));
    std::vector<segment::PackedEvent> unpacked;
    for (auto& [segment, indexes] : GroupBySegment(seqs)) {
      STORE_ASSIGN_OR_RETURN(std::optional<SegmentRow> row, ReadSegmentRow(db, segment));
      if (!row.has_value()) continue;  // already gone (completed or deleted)
      std::vector<uint32_t> pending = PendingOf(*row, indexes);
      if (pending.empty()) continue;
      std::string packed;
      STORE_RETURN_IF_ERROR(ReadSegmentEvents(db, segment, row->event_count, packed, unpacked));
      for (uint32_t index : pending) {
        insert.Reset();
        STORE_RETURN_IF_ERROR(insert.BindText(1, row->integration_id)
                                  .BindText(2, unpacked[index].message_id)
                                  .BindText(3, reason)
                                  .BindText(4, message)
                                  .Bind(5, last_status)
                                  .Bind(6, static_cast<int64_t>(row->attempts) + attempts_added)
                                  .Bind(7, now)
                                  .BindText(8, last_response)
                                  .BindBlob(9, unpacked[index].payload)
                                  .Run());
        ++effects.dead_letters_added;
      }
      STORE_RETURN_IF_ERROR(FinishInSegment(db, *row, std::move(pending), effects));
    }
    effects.released.insert(effects.released.end(), seqs.begin(), seqs.end());
    return absl::OkStatus();
  });
}

absl::StatusOr<size_t> SqliteStore::QueueDepth(std::string_view integration_id) {
  std::lock_guard<std::mutex> lock(depth_mu_);
  auto it = depth_.find(Av(integration_id));
  return it == depth_.end() ? 0 : static_cast<size_t>(it->second);
}

}  // namespace signal_host::sqlite_store
