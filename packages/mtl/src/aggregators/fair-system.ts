// The system that Nash-MTL (p = 1) and FairGrad (p = 1/alpha) reduce to: find x > 0 with
//   (M x)_t = x_t^(-p)   for every task t,
// M = G G^T the Gram matrix of the task gradients on the trunk. It is the stationarity condition
// of the strictly convex (on x > 0)
//   f(x) = 1/2 x^T M x - sum_t H(x_t),   H'(x) = x^(-p)   (H = log x for p = 1),
// so it has at most one solution, and it has one exactly when no non-negative, non-zero
// combination of the gradients vanishes (0 outside their convex hull: no zero gradient, no two
// anti-parallel ones). A helper of nash.ts and fairgrad.ts, not a weighting of its own.
//
// How it is solved, the same on every rank (float64, fixed order, a deterministic stopping rule):
// - a task whose squared gradient norm is at most ZERO_REL of the largest has nothing to bargain
//   with (no labelled example in the batch, or a stationary point): weight 0, and the system is
//   solved among the others; all gradients zero: every weight 0;
// - the diagonal is multiplied by 1 + EPS, as if every task's gradient had a component of its own
//   of sqrt(EPS) = 1e-5 of its norm, orthogonal to everything. That moves a solution that exists by
//   a relative ~EPS (for p = 1 it keeps Nash-MTL's equivariance: g_t times c_t gives x_t / c_t) and
//   gives one where none exists (e.g. anti-parallel gradients: large equal weights whose
//   combination cancels; the update's squared norm x^T M x = sum_t x_t^(1-p) - EPS sum_t M_tt x_t^2
//   stays bounded). M is divided by s = max_t M_tt first (the solution scales as s^(-1/(1+p)));
// - damped Newton on f from x_t = M_tt^(-1/(1+p)): the Newton direction d from the Cholesky
//   factor of the Hessian M + diag(p x^(-p-1)) (positive definite); the step x - tau d goes at most
//   BOUNDARY = 0.99 of the way to where a weight would reach 0 (positivity: a weight shrinks at
//   most 100-fold a step, and grows without bound), with Armijo backtracking on f's change
//   (computed as a difference, exact also where f itself is large). It stops after a Newton step
//   that changed no weight by more than STEP_TOL = 1e-12 of itself, when every equation holds to
//   RES_TOL = 1e-14 of the terms it sums (float64's floor: where M x cancels, as in a regularised
//   system without solution, Newton would otherwise wander on rounding noise), when no step
//   decreases f any more, or after MAX_ITER = 100 iterations. On random Gram matrices, also
//   rank-deficient ones and gradient norms 400-fold apart (test/fairgrad.test.ts), it stops within
//   50 iterations, at a residual below 1e-13 for 1/3 <= p <= 1000 and below 1e-7 down to p = 0.1
//   (weights so small that f's change no longer registers); for smaller p (FairGrad's alpha > 10)
//   the solution can need weights beyond float64's range, so FairGrad's alpha stays in [0.01, 10].

/** Squared norms at most this share of the largest count as zero gradients. */
export const ZERO_REL = 1e-20;
/** Diagonal regularisation, relative to each task's squared norm. */
export const EPS = 1e-10;
/** Converged when a Newton step changes no weight by more than this share of it, ... */
export const STEP_TOL = 1e-12;
/** ... or when every equation holds to this share of the terms it sums (float64's floor). */
export const RES_TOL = 1e-14;
export const MAX_ITER = 100;
/** The share of the way to the boundary (a weight of 0) a step may go at most. */
const BOUNDARY = 0.99;
/** Armijo's sufficient-decrease constant. */
const ARMIJO = 1e-4;

export interface FairSolution {
  /** x, one per task (0 for a zero gradient). */
  weights: Float64Array;
  /** Newton iterations taken. */
  iterations: number;
  /**
   * max_t |(M' x)_t - x_t^(-p)| / ((|M'| x)_t + x_t^(-p)) over the tasks solved for (0 when none),
   * M' = M + EPS diag(M) normalised: the equations' error relative to the terms they sum.
   */
  residual: number;
  /** The last Newton step's largest relative change of a weight (0 when none was needed). */
  step: number;
}

/** Solve (M x)_t = x_t^(-p), x > 0, for the Gram matrix `M` (T x T, row-major) and p > 0. */
export function solveFairSystem(M: Float64Array, T: number, p: number): FairSolution {
  if (!(p > 0) || !Number.isFinite(p)) throw new Error(`the exponent p must be a positive number, got ${p}`);
  const x = new Float64Array(T);
  let s = 0;
  for (let t = 0; t < T; t++) s = Math.max(s, M[t * T + t]!);
  if (!(s > 0) || !Number.isFinite(s)) return { weights: x, iterations: 0, residual: 0, step: 0 };
  const active: number[] = [];
  for (let t = 0; t < T; t++) if (M[t * T + t]! > ZERO_REL * s) active.push(t);
  const n = active.length;
  const A = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) A[a * n + b] = M[active[a]! * T + active[b]!]! / s;
    A[a * n + a] *= 1 + EPS;
  }
  const powNeg = (v: number) => (p === 1 ? 1 / v : Math.pow(v, -p));
  const Au = new Float64Array(n);
  const mul = (u: Float64Array, out: Float64Array, By: Float64Array = A) => {
    for (let a = 0; a < n; a++) {
      let acc = 0;
      for (let b = 0; b < n; b++) acc += By[a * n + b]! * u[b]!;
      out[a] = acc;
    }
  };
  const absA = A.map(Math.abs);
  const absAu = new Float64Array(n);
  /**
   * max_t |(A u)_t - u_t^(-p)| / ((|A| u)_t + u_t^(-p)): relative to the terms each equation sums,
   * so cancellation in A u does not make it meaningless. Leaves A u in Au.
   */
  const residualOf = (u: Float64Array) => {
    mul(u, Au);
    mul(u, absAu, absA);
    let worst = 0;
    for (let a = 0; a < n; a++) {
      const rhs = powNeg(u[a]!);
      worst = Math.max(worst, Math.abs(Au[a]! - rhs) / (absAu[a]! + rhs));
    }
    return worst;
  };

  let u = Float64Array.from({ length: n }, (_, a) => Math.pow(A[a * n + a]!, -1 / (1 + p)));
  const r = new Float64Array(n);
  const Hm = new Float64Array(n * n);
  const d = new Float64Array(n);
  const rho = new Float64Array(n);
  const delta = new Float64Array(n);
  const Ad = new Float64Array(n);
  const next = new Float64Array(n);
  let iterations = 0;
  let step = 0;
  // The starting point may already solve the system (one task, orthogonal gradients).
  let done = residualOf(u) <= RES_TOL;
  while (!done && iterations < MAX_ITER) {
    // Au holds A u: the gradient of f is r = A u - u^(-p).
    for (let a = 0; a < n; a++) r[a] = Au[a]! - powNeg(u[a]!);
    Hm.set(A);
    for (let a = 0; a < n; a++) Hm[a * n + a] += (p * powNeg(u[a]!)) / u[a]!;
    choleskySolve(Hm, n, r, d);
    // The Newton decrement r^T d (> 0 unless r is 0: the Hessian is positive definite).
    let decrement = 0;
    for (let a = 0; a < n; a++) decrement += r[a]! * d[a]!;
    if (!(decrement > 0)) {
      step = 0;
      break;
    }
    step = 0;
    for (let a = 0; a < n; a++) step = Math.max(step, Math.abs(d[a]! / u[a]!));
    iterations++;
    // The Newton step u - tau d, tau at most 1 and at most BOUNDARY of the way to where a weight
    // would reach 0 (a weight shrinks at most 100-fold in one step; it can grow without bound).
    let tau = 1;
    for (let a = 0; a < n; a++) if (d[a]! > 0) tau = Math.min(tau, (BOUNDARY * u[a]!) / d[a]!);
    let accepted = false;
    for (let tries = 0; tries < 60 && !accepted; tries++) {
      for (let a = 0; a < n; a++) {
        delta[a] = -tau * d[a]!;
        next[a] = u[a]! + delta[a]!;
        rho[a] = Math.log1p(delta[a]! / u[a]!);
      }
      // f(next) - f(u), computed as a difference (f itself can be far larger than the change):
      // delta^T A u + delta^T A delta / 2 - sum_t (H(next_t) - H(u_t)), with
      // H(u e^rho) - H(u) = rho (p = 1), u^(1-p) expm1((1-p) rho) / (1-p) (otherwise).
      mul(delta, Ad);
      let change = 0;
      for (let a = 0; a < n; a++) {
        const dH = p === 1 ? rho[a]! : (Math.pow(u[a]!, 1 - p) * Math.expm1((1 - p) * rho[a]!)) / (1 - p);
        change += delta[a]! * (Au[a]! + 0.5 * Ad[a]!) - dH;
      }
      accepted = change <= -ARMIJO * tau * decrement;
      if (!accepted) tau /= 2;
    }
    // No decrease left that float64 can resolve: u is as good as it gets.
    if (!accepted) break;
    u = Float64Array.from(next);
    // Converged: the Newton step changed no weight by more than STEP_TOL of itself, or every
    // equation holds to float64's rounding of its terms (where A u cancels, the step stalls there).
    done = step <= STEP_TOL || residualOf(u) <= RES_TOL;
  }
  const residual = residualOf(u);
  const k = Math.pow(s, -1 / (1 + p));
  for (let a = 0; a < n; a++) x[active[a]!] = k * u[a]!;
  return { weights: x, iterations, residual, step };
}

/** Solve H d = r for a symmetric positive definite n x n `H` (row-major, overwritten) by Cholesky. */
function choleskySolve(Hm: Float64Array, n: number, r: Float64Array, d: Float64Array): void {
  // Lower factor L in place: Hm = L L^T.
  for (let j = 0; j < n; j++) {
    let diag = Hm[j * n + j]!;
    for (let k = 0; k < j; k++) diag -= Hm[j * n + k]! * Hm[j * n + k]!;
    const l = Math.sqrt(Math.max(diag, Number.MIN_VALUE));
    Hm[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let v = Hm[i * n + j]!;
      for (let k = 0; k < j; k++) v -= Hm[i * n + k]! * Hm[j * n + k]!;
      Hm[i * n + j] = v / l;
    }
  }
  // L y = r, then L^T d = y.
  for (let i = 0; i < n; i++) {
    let v = r[i]!;
    for (let k = 0; k < i; k++) v -= Hm[i * n + k]! * d[k]!;
    d[i] = v / Hm[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let v = d[i]!;
    for (let k = i + 1; k < n; k++) v -= Hm[k * n + i]! * d[k]!;
    d[i] = v / Hm[i * n + i]!;
  }
}
