/** What a soak has seen over its runs: a soak that delivers nothing, or never kills, proves little. */
export interface SoakTally {
  runs: number;
  tracked: number;
  delivered: number;
  kills: number;
  /** Events a kill caught in memory only (neither stored nor sent): a kill may lose these, and only these. */
  lostToKills: number;
  /** Runs with events at full in two identity periods or more: the re-link check bites only in these. */
  periodPairs: number;
  /** Events sent or counted a second time, with the same id (at least once, across a lost answer, a kill or a storage fault). */
  repeated: number;
}

export const emptyTally = (): SoakTally => ({ runs: 0, tracked: 0, delivered: 0, kills: 0, lostToKills: 0, periodPairs: 0, repeated: 0 });
