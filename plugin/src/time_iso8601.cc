#include "time_iso8601.h"

namespace signal_hightouch {
namespace {

constexpr int64_t kMillisPerDay = 86400000;

bool IsLeapYear(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted from
// March so that the leap day falls at the end of each 400-year era.
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

void CivilFromDays(int64_t days, int64_t* year, int* month, int* day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t month_index = (5 * day_of_year + 2) / 153;  // 0 = March
  *day = static_cast<int>(day_of_year - (153 * month_index + 2) / 5 + 1);
  *month = static_cast<int>(month_index < 10 ? month_index + 3 : month_index - 9);
  *year = year_of_era + era * 400 + (*month <= 2 ? 1 : 0);
}

// Reads exactly `count` digits at text[*pos].
bool ReadDigits(std::string_view text, size_t* pos, int count, int* value) {
  if (*pos + static_cast<size_t>(count) > text.size()) return false;
  int result = 0;
  for (int i = 0; i < count; ++i) {
    const char c = text[*pos + static_cast<size_t>(i)];
    if (c < '0' || c > '9') return false;
    result = result * 10 + (c - '0');
  }
  *pos += static_cast<size_t>(count);
  *value = result;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

void Put2(char* out, int value) {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
}

}  // namespace

bool ParseIso8601(std::string_view text, int64_t* unix_ms) {
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!ReadDigits(text, &pos, 4, &year) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &month) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &day)) {
    return false;
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) {
    return false;
  }
  ++pos;
  if (!ReadDigits(text, &pos, 2, &hour) || !Expect(text, &pos, ':') ||
      !ReadDigits(text, &pos, 2, &minute) || !Expect(text, &pos, ':') ||
      !ReadDigits(text, &pos, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  int millis = 0;
  if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return false;
    for (int i = digits; i < 3; ++i) millis *= 10;
  }
  int offset_minutes = 0;
  if (pos < text.size()) {
    const char zone = text[pos++];
    if (zone == 'Z' || zone == 'z') {
      // UTC
    } else if (zone == '+' || zone == '-') {
      int offset_hours, offset_mins = 0;
      if (!ReadDigits(text, &pos, 2, &offset_hours)) return false;
      if (pos < text.size()) {
        if (text[pos] == ':') ++pos;
        if (!ReadDigits(text, &pos, 2, &offset_mins)) return false;
      }
      if (offset_hours > 23 || offset_mins > 59) return false;
      offset_minutes = offset_hours * 60 + offset_mins;
      if (zone == '-') offset_minutes = -offset_minutes;
    } else {
      return false;
    }
  }
  if (pos != text.size()) return false;
  const int64_t ms = DaysFromCivil(year, month, day) * kMillisPerDay +
                     ((hour * 60 + minute - offset_minutes) * 60 + second) * int64_t{1000} + millis;
  if (ms < kMinIso8601UnixMs || ms > kMaxIso8601UnixMs) return false;
  *unix_ms = ms;
  return true;
}

void FormatIso8601Millis(int64_t unix_ms, char* out) {
  int64_t days = unix_ms / kMillisPerDay;
  int64_t rest = unix_ms % kMillisPerDay;
  if (rest < 0) {
    rest += kMillisPerDay;
    --days;
  }
  int64_t year;
  int month, day;
  CivilFromDays(days, &year, &month, &day);
  const int millis = static_cast<int>(rest % 1000);
  const int seconds_of_day = static_cast<int>(rest / 1000);
  Put2(out, static_cast<int>(year / 100));
  Put2(out + 2, static_cast<int>(year % 100));
  out[4] = '-';
  Put2(out + 5, month);
  out[7] = '-';
  Put2(out + 8, day);
  out[10] = 'T';
  Put2(out + 11, seconds_of_day / 3600);
  out[13] = ':';
  Put2(out + 14, seconds_of_day / 60 % 60);
  out[16] = ':';
  Put2(out + 17, seconds_of_day % 60);
  out[19] = '.';
  out[20] = static_cast<char>('0' + millis / 100);
  Put2(out + 21, millis % 100);
  out[23] = 'Z';
}

}  // namespace signal_hightouch
