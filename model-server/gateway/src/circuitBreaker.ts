export type BreakerState = "closed" | "open" | "half-open";

/**
 * Opens after `failureThreshold` consecutive failures; while open every call is refused without
 * touching the backend; after `cooldownMs` one trial call is let through (half-open), whose
 * outcome closes or re-opens it.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private current: BreakerState = "closed";

  constructor(
    private readonly failureThreshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
    private readonly onChange: (state: BreakerState) => void = () => {},
  ) {}

  get state(): BreakerState {
    return this.current;
  }

  /** Whether a call may go to the backend now; a `true` must be followed by success() or failure(). */
  allow(): boolean {
    if (this.current === "closed") return true;
    if (this.current === "open" && this.now() - this.openedAt >= this.cooldownMs) this.set("half-open");
    if (this.current === "half-open" && !this.trialInFlight) {
      this.trialInFlight = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.failures = 0;
    this.trialInFlight = false;
    if (this.current !== "closed") this.set("closed");
  }

  failure(): void {
    this.trialInFlight = false;
    this.failures += 1;
    if (this.current === "half-open" || this.failures >= this.failureThreshold) {
      this.openedAt = this.now();
      if (this.current !== "open") this.set("open");
    }
  }

  private set(state: BreakerState): void {
    this.current = state;
    this.onChange(state);
  }
}
