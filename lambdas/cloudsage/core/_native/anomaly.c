/*
 * The per-point baseline recursion of cloudsage.core.models.anomaly (the body of _python_points), compiled.
 *
 * It runs over a stretch of ordinary points of a detector that is past its warm-up, and stops where Python has
 * work to do: the end of the stretch (the driver ends it before a day boundary and before a history trim), the
 * end of a burst (Python records it and refreshes the burst floors), and a point that reaches the burst recheck
 * step (Python refreshes the floors first, then the kernel resumes at that point). Everything else the Python loop
 * does per point is here, in the same order and with the same floating-point operations, so the results are the
 * same to the last bit: build with -ffp-contract=off (no fused multiply-add) and never with -ffast-math. The
 * equality is tested against the Python loop (tests/unit/test_anomaly_native.py).
 *
 * Plain C through ctypes, no Python headers: one shared library per CPU architecture serves every Python version.
 */
#include <math.h>
#include <stdint.h>

#define CS_ABI 1

/* float state, in and out */
enum { S_LEVEL, S_SCALE_ABS, S_SCALE_Q, S_SWING, S_SHIFT, S_SHIFT_ABS, S_BURST_PEAK, S_BURST_FLOOR, S_BURST_RECHECK,
       S_PREV_LEVEL, S_CS_LAST, S_EVENT_PEAK, S_COUNT };
/* integer state, in and out */
enum { I_T, I_LAST_VALID, I_PREV_FLAG, I_HAS_PREV, I_PREV_UNTIL, I_RUN, I_RUN_SIGN, I_RUN_LEN, I_CN_LAST, I_EVENT,
       I_N_REC, I_SKIP_RECHECK_T, I_COUNT };
/* float parameters */
enum { P_ALPHA, P_BETA, P_A_SHIFT, P_G_D, P_G_W, P_ZTHR, P_Z_HOLD, P_MIN_SCALE, P_SHIFT_FLOOR, P_B_SWING, P_Q_UP,
       P_Q_DOWN, P_MAD_TO_SIGMA, P_Q95, P_SWING_FLOOR, P_HUBER_K, P_SLOT_CLIP, P_SHIFT_CLIP, P_SHIFT_MIN_Z,
       P_REANCHOR_MIN, P_SCALE_CLIP, P_COUNT };
/* integer parameters */
enum { Q_DAY, Q_WEEK, Q_WBIN, Q_PERSIST, Q_REVERT_WINDOW, Q_HABIT_MIN_DAYS, Q_COUNT };
enum { EV_NONE, EV_BURST, EV_RECHECK };
enum { KIND_POINT = 1, KIND_SHIFT = 2 };

int cs_abi(void) { return CS_ABI; }
int cs_layout(void) { return S_COUNT * 1000000 + I_COUNT * 10000 + P_COUNT * 100 + Q_COUNT; }

/* Python's sorted() then the middle: a stable insertion sort (the buffer holds at most `persist` values) */
static double median_of(const double *v, int64_t n, double *work) {
    for (int64_t a = 0; a < n; a++) {
        double x = v[a];
        int64_t b = a;
        while (b > 0 && work[b - 1] > x) {
            work[b] = work[b - 1];
            b--;
        }
        work[b] = x;
    }
    int64_t m = n / 2;
    return (n % 2) ? work[m] : 0.5 * (work[m - 1] + work[m]);
}

int64_t cs_anomaly_run(const double *vals, int64_t i0, int64_t i1, double *S, int64_t *I, const double *P,
                       const int64_t *Q, double *daily, double *weekly, double *slot_abs, const int64_t *habit_n,
                       const int64_t *habit_last, const double *habit_scale, double *run_buf, double *work,
                       double *clean, double *cs, int64_t *cn, double *z_out, int8_t *kind_out, double *base_out,
                       double *sig_out, double *ref_out, uint8_t *anchor_out, uint8_t *revert_out, int64_t *rec_i,
                       double *rec_sig, double *rec_seas) {
    const double alpha = P[P_ALPHA], beta = P[P_BETA], a_sh = P[P_A_SHIFT], g_d = P[P_G_D], g_w = P[P_G_W];
    const double zthr = P[P_ZTHR], z_hold = P[P_Z_HOLD], min_scale = P[P_MIN_SCALE], shift_floor = P[P_SHIFT_FLOOR];
    const double b_swing = P[P_B_SWING], q_up = P[P_Q_UP], q_down = P[P_Q_DOWN], mad = P[P_MAD_TO_SIGMA];
    const double q95 = P[P_Q95], swing_floor = P[P_SWING_FLOOR], huber_k = P[P_HUBER_K], slot_clip = P[P_SLOT_CLIP];
    const double shift_clip = P[P_SHIFT_CLIP], shift_min_z = P[P_SHIFT_MIN_Z], reanchor_min = P[P_REANCHOR_MIN];
    const double scale_clip = P[P_SCALE_CLIP];
    const int64_t day = Q[Q_DAY], week = Q[Q_WEEK], wbin = Q[Q_WBIN], persist = Q[Q_PERSIST];
    const int64_t revert_window = Q[Q_REVERT_WINDOW], habit_min_days = Q[Q_HABIT_MIN_DAYS];

    double level = S[S_LEVEL], scale_abs = S[S_SCALE_ABS], scale_q = S[S_SCALE_Q], swing = S[S_SWING];
    double shift = S[S_SHIFT], shift_abs = S[S_SHIFT_ABS], burst_peak = S[S_BURST_PEAK];
    const double burst_floor = S[S_BURST_FLOOR], recheck = S[S_BURST_RECHECK];
    double prev_level = S[S_PREV_LEVEL], cs_last = S[S_CS_LAST];
    int64_t t = I[I_T], last_valid = I[I_LAST_VALID], prev_flag = I[I_PREV_FLAG], has_prev = I[I_HAS_PREV];
    int64_t prev_until = I[I_PREV_UNTIL], run = I[I_RUN], run_sign = I[I_RUN_SIGN], run_len = I[I_RUN_LEN];
    int64_t cn_last = I[I_CN_LAST], n_rec = I[I_N_REC];
    const int64_t skip_t = I[I_SKIP_RECHECK_T];
    int event = EV_NONE;
    double event_peak = 0.0;

    int64_t i = i0;
    for (; i < i1; i++) {
        const double x = vals[i];
        double seas = 0.0;
        if (daily) {
            seas = daily[t % day];
            if (weekly) seas += weekly[(t % week) / wbin];
        }
        if (x != x) { /* missing: no score, no update */
            clean[i] = NAN;
            cs[i] = cs_last;
            cn[i] = cn_last;
            base_out[i] = level + seas;
            t++;
            continue;
        }
        if (t - last_valid > persist) { /* back from a long gap: start from here, judge nothing yet */
            level = x - seas;
            shift = 0.0;
            run = run_sign = run_len = 0;
            clean[i] = x;
            cs_last = cs_last + x - seas;
            cs[i] = cs_last;
            cn[i] = ++cn_last;
            base_out[i] = x;
            last_valid = t;
            t++;
            continue;
        }
        if ((double)t > recheck && t != skip_t) { /* Python refreshes the burst floors, then resumes here */
            event = EV_RECHECK;
            break;
        }
        last_valid = t;

        double pred = level + seas;
        double sigma = scale_abs * mad;
        if (scale_q > q95 * sigma) sigma = scale_q / q95;
        double r = x - pred;
        const double dev = fabs(x - level);
        swing += b_swing * (dev - swing);
        double floor_ = swing_floor * swing + 1e-9 * (1.0 + fabs(level));
        if (floor_ < min_scale) floor_ = min_scale;
        if (sigma < floor_) sigma = floor_;
        const double base_sigma = sigma;
        const double band = huber_k * sigma;
        if (has_prev) {
            if (t > prev_until) {
                has_prev = 0;
            } else {
                const double ar = fabs(r), six = 6.0 * band;
                if (ar > band && 3.0 * fabs(x - seas - prev_level) <= (six < ar ? six : ar)) {
                    level = prev_level;
                    has_prev = 0;
                    revert_out[i] = 1;
                    pred = level + seas;
                    r = x - pred;
                    shift = 0.0;
                    run = run_sign = run_len = 0;
                }
            }
        }
        if (slot_abs) {
            const int64_t ds = t % day;
            const double here = slot_abs[ds];
            if (here * mad > sigma) sigma = here * mad;
            const double ar = fabs(r), cap = slot_clip * sigma;
            slot_abs[ds] = here + g_d * ((ar < cap ? ar : cap) - here);
        }
        const double raw_sigma = sigma;
        if (burst_floor > sigma) sigma = burst_floor;
        if (habit_n) {
            const int64_t ds = t % day;
            if (habit_n[ds] >= 0 && habit_scale[ds] > sigma &&
                habit_n[ds] - (int64_t)(habit_last[ds] == t / day) >= habit_min_days)
                sigma = habit_scale[ds];
        }
        base_out[i] = pred;
        sig_out[i] = sigma;
        ref_out[i] = pred;
        const double xc = r > band ? pred + band : (r < -band ? pred - band : x);
        clean[i] = xc;
        cs_last = cs_last + xc - seas;
        cs[i] = cs_last;
        cn[i] = ++cn_last;

        const double z1 = r / sigma;
        const double zc = z1 > shift_clip ? shift_clip : (z1 < -shift_clip ? -shift_clip : z1);
        shift += a_sh * (zc - shift);
        double s_sh = shift_abs * mad;
        if (s_sh < shift_floor) s_sh = shift_floor;
        double z2 = shift / s_sh;
        if (z1 * z2 <= 0.0 || fabs(z1) < shift_min_z || sigma > raw_sigma) z2 = 0.0;
        double zbest = z1;
        int8_t kbest = KIND_POINT;
        if (fabs(z2) > fabs(z1)) {
            zbest = z2;
            kbest = KIND_SHIFT;
        }
        z_out[i] = zbest;
        kind_out[i] = kbest;
        rec_i[n_rec] = i;
        rec_sig[n_rec] = base_sigma;
        rec_seas[n_rec] = seas;
        n_rec++;
        const int flagged = fabs(z1) > zthr || fabs(z2) > zthr;
        const int holding = fabs(shift) > s_sh * z_hold &&
                            ((run && ((shift > 0) == (run_sign > 0))) || (!run && daily != 0));
        const int suspect = flagged || holding;
        if (!(flagged && prev_flag)) scale_q *= fabs(r) > scale_q ? q_up : q_down;
        prev_flag = flagged;
        if (flagged || fabs(r) > zthr * raw_sigma) {
            if (fabs(r) > burst_peak) burst_peak = fabs(r);
        } else if (burst_peak > 0.0) { /* a burst ended: Python records it after this point */
            event = EV_BURST;
            event_peak = burst_peak;
            burst_peak = 0.0;
        }
        if (suspect) {
            const int64_t sign = (flagged ? r : shift) > 0 ? 1 : -1;
            if (sign != run_sign) {
                run = 0;
                run_sign = sign;
                run_len = 0;
            }
            run++;
            run_buf[run_len++] = x - seas;
            if (run >= persist) {
                const double *held = run_buf + (run_len - persist);
                int64_t clear = 0;
                for (int64_t a = 0; a < persist; a++)
                    if ((held[a] - level) * (double)sign > band) clear++;
                if ((double)clear >= reanchor_min) {
                    prev_level = level;
                    prev_until = t + revert_window;
                    has_prev = 1;
                    level = median_of(held, persist, work);
                    shift = 0.0;
                    anchor_out[i] = 1;
                }
                run = run_sign = run_len = 0;
            }
        } else {
            run = run_sign = run_len = 0;
            const double psi = r > band ? band : (r < -band ? -band : r);
            level += alpha * psi;
            if (daily) {
                daily[t % day] += g_d * psi;
                if (weekly) weekly[(t % week) / wbin] += g_w * psi;
            }
            const double ar = fabs(r), cap = scale_clip * base_sigma;
            scale_abs += beta * ((ar < cap ? ar : cap) - scale_abs);
            const double ash = fabs(shift);
            shift_abs += beta * ((ash < shift_clip ? ash : shift_clip) - shift_abs);
        }
        t++;
        if (event == EV_BURST) {
            i++;
            break;
        }
    }

    S[S_LEVEL] = level, S[S_SCALE_ABS] = scale_abs, S[S_SCALE_Q] = scale_q, S[S_SWING] = swing;
    S[S_SHIFT] = shift, S[S_SHIFT_ABS] = shift_abs, S[S_BURST_PEAK] = burst_peak, S[S_PREV_LEVEL] = prev_level;
    S[S_CS_LAST] = cs_last, S[S_EVENT_PEAK] = event_peak;
    I[I_T] = t, I[I_LAST_VALID] = last_valid, I[I_PREV_FLAG] = prev_flag, I[I_HAS_PREV] = has_prev;
    I[I_PREV_UNTIL] = prev_until, I[I_RUN] = run, I[I_RUN_SIGN] = run_sign, I[I_RUN_LEN] = run_len;
    I[I_CN_LAST] = cn_last, I[I_EVENT] = event, I[I_N_REC] = n_rec;
    return i;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The drift test at one segment length over a run of scored points: _drift_point (the scalar oracle of
 * _drift_pass) point by point. Prefix sums cs/cn start `base` history points in; point p has base + ks[p] history
 * points behind it. The usual change size is a median of the samples (a FIFO of at most max_samples) kept beside
 * a sorted copy; pending samples are a FIFO of (step, value) that mature `delay` steps after they are taken.
 */
enum { D_SEG, D_EVERY, D_DELAY, D_MIN_SAMPLES, D_MAX_SAMPLES, D_BASE, D_N, D_N_SAMPLES, D_N_PENDING, D_COUNT };
enum { DF_ZTHR, DF_FLOOR, DF_MAD_SCALE, DF_SCALE, DF_COUNT };

static void sorted_insert(double *s, int64_t n, double v) { /* s[0..n) sorted; room for one more */
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (s[mid] < v) lo = mid + 1; else hi = mid;
    }
    for (int64_t a = n; a > lo; a--) s[a] = s[a - 1];
    s[lo] = v;
}

static void sorted_remove(double *s, int64_t n, double v) { /* v is in s[0..n) */
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (s[mid] < v) lo = mid + 1; else hi = mid;
    }
    for (int64_t a = lo; a < n - 1; a++) s[a] = s[a + 1];
}

void cs_drift_run(const double *cs, const int64_t *cn, const int64_t *ks, const int64_t *ts, const double *sig,
                  int64_t *D, double *DF, double *samples, double *sorted_, int64_t *pend_t, double *pend_v,
                  double *z_out, double *ref_out) {
    const int64_t seg = D[D_SEG], every = D[D_EVERY], delay = D[D_DELAY], min_samples = D[D_MIN_SAMPLES];
    const int64_t max_samples = D[D_MAX_SAMPLES], base = D[D_BASE], n = D[D_N];
    const double zthr = DF[DF_ZTHR], floor_k = DF[DF_FLOOR], mad_scale = DF[DF_MAD_SCALE];
    double scale = DF[DF_SCALE];
    int64_t n_samples = D[D_N_SAMPLES], head = 0, tail = D[D_N_PENDING];
    for (int64_t p = 0; p < n; p++) {
        const int64_t k = base + ks[p], t = ts[p];
        if (k < 2 * seg) {
            z_out[p] = 0.0;
            ref_out[p] = NAN;
            continue;
        }
        int64_t nm = k / seg;
        if (nm > 4) nm = 4;
        double means[4];
        for (int64_t j = nm; j >= 1; j--) {
            const int64_t lo = ks[p] - j * seg;
            const int64_t cnt = cn[lo + seg] - cn[lo];
            means[nm - j] = 2 * cnt >= seg ? (cs[lo + seg] - cs[lo]) / (double)cnt : NAN;
        }
        const double newest = means[nm - 1] - means[nm - 2];
        double z = 0.0;
        if (nm == 4 && n_samples >= min_samples) {
            const double d1 = means[1] - means[0], d2 = means[2] - means[1];
            double dmin = 0.0;
            if (d1 > 0 && d2 > 0 && newest > 0) {
                dmin = d1;
                if (d2 < dmin) dmin = d2;
                if (newest < dmin) dmin = newest;
            } else if (d1 < 0 && d2 < 0 && newest < 0) {
                dmin = d1;
                if (d2 > dmin) dmin = d2;
                if (newest > dmin) dmin = newest;
            }
            const double fl = floor_k * sig[p];
            z = dmin / (fl > scale ? fl : scale);
        }
        if (fabs(z) > zthr) {
            head = tail = 0;
        } else if (t % every == 0 && newest == newest) {
            pend_t[tail] = t;
            pend_v[tail] = fabs(newest);
            tail++;
        }
        if (head < tail && pend_t[head] <= t - delay) {
            while (head < tail && pend_t[head] <= t - delay) {
                const double v = pend_v[head++];
                if (n_samples == max_samples) { /* the oldest sample leaves */
                    sorted_remove(sorted_, n_samples, samples[0]);
                    for (int64_t a = 0; a < n_samples - 1; a++) samples[a] = samples[a + 1];
                    n_samples--;
                }
                samples[n_samples] = v;
                sorted_insert(sorted_, n_samples, v);
                n_samples++;
            }
            const int64_t m = n_samples / 2;
            scale = mad_scale * ((n_samples % 2) ? sorted_[m] : 0.5 * (sorted_[m - 1] + sorted_[m]));
        }
        z_out[p] = z;
        ref_out[p] = means[0];
    }
    for (int64_t a = head; a < tail; a++) { /* the pending samples left, moved to the front */
        pend_t[a - head] = pend_t[a];
        pend_v[a - head] = pend_v[a];
    }
    D[D_N_SAMPLES] = n_samples;
    D[D_N_PENDING] = tail - head;
    DF[DF_SCALE] = scale;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The quiet period after an alert over the scored points of a chunk, with the new-extreme tests off: the loop of
 * _alerts when novelty is 0, calling _quiet per point. QI: persist, drift segment, quiet_until, drift_quiet_until,
 * drift_up (in and out).
 */
enum { QI_PERSIST, QI_SEG, QI_QUIET_UNTIL, QI_DRIFT_QUIET_UNTIL, QI_DRIFT_UP, QI_COUNT };
enum { KIND_DRIFT = 3, KIND_NOVEL = 4 };

void cs_quiet_run(const int64_t *rec_i, int64_t n_rec, int64_t t0, double z_alert, const double *z,
                  const int8_t *kind, uint8_t *quiet, int64_t *QI) {
    const int64_t persist = QI[QI_PERSIST], seg = QI[QI_SEG];
    int64_t quiet_until = QI[QI_QUIET_UNTIL], drift_quiet_until = QI[QI_DRIFT_QUIET_UNTIL];
    int64_t drift_up = QI[QI_DRIFT_UP];
    for (int64_t a = 0; a < n_rec; a++) {
        const int64_t i = rec_i[a], t = t0 + i, k = kind[i];
        const double zbest = z[i], za = fabs(zbest);
        const int64_t up = k == KIND_DRIFT ? (zbest > 0) : 0; /* nov_up is False with the new-extreme tests off */
        const int same_drift = t <= drift_quiet_until && (k == KIND_DRIFT || k == KIND_NOVEL) && up == drift_up;
        if (t <= quiet_until || (za >= z_alert && same_drift)) {
            quiet[i] = 1;
        } else if (za >= z_alert) {
            quiet_until = t + persist;
            if (k == KIND_DRIFT) {
                drift_quiet_until = t + seg;
                drift_up = zbest > 0;
            }
        }
    }
    QI[QI_QUIET_UNTIL] = quiet_until, QI[QI_DRIFT_QUIET_UNTIL] = drift_quiet_until, QI[QI_DRIFT_UP] = drift_up;
}

/* ---------------------------------------------------------------------------------------------------------------
 * CostOptimizer's burstable credit balance (cost.credit_exhausted_share): a running sum clipped at the cap and at
 * zero; returns the number of intervals with an empty balance. The same operations as the Python loop, in order.
 */
int64_t cs_credit_empty(const double *net, int64_t n, double cap, double balance) {
    int64_t empty = 0;
    for (int64_t i = 0; i < n; i++) {
        const double b = balance + net[i];
        balance = b < cap ? b : cap; /* Python's min(cap, b): cap unless b < cap */
        if (balance <= 0.0) {
            empty++;
            balance = 0.0;
        }
    }
    return empty;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The daily seasonality check's statistic: _lag_corr(h - _centered_mean(h, window), lag).
 *
 * The centred mean, the residuals, the winsorising percentiles and the clipping are the Python code's to the last
 * bit (a sequential cumulative sum like numpy's cumsum, order statistics by selection, numpy's interpolation). The
 * means and the three sums of products add in plain order where numpy adds pairwise, so the correlation may differ
 * in the last bits: each sum's relative error is below n * 2**-53, so the correlation's error is below about 1e-11
 * for n <= 20,000, unless the centred sums cancel (a spread below a millionth of the values' size), which out[1]
 * flags. The caller only compares the correlation with thresholds, and asks numpy for the exact value whenever it
 * lies within 1e-9 of one or out[1] is set: the decisions are the Python code's. out: correlation, flag.
 */
static double select_kth(double *a, int64_t lo, int64_t hi, int64_t k) { /* k-th smallest of a[lo..hi), in place */
    hi--;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        const double x = a[mid], y = a[lo], z = a[hi]; /* median of three as the pivot */
        const double pivot = (x < y) ? ((y < z) ? y : ((x < z) ? z : x)) : ((x < z) ? x : ((y < z) ? z : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                const double tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

static double min_of(const double *a, int64_t lo, int64_t hi) {
    double m = a[lo];
    for (int64_t i = lo + 1; i < hi; i++)
        if (a[i] < m) m = a[i];
    return m;
}

static double clip(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

void cs_season_acf(const double *h, int64_t n, int64_t window, int64_t lag, double *work, double *out) {
    double *c = work, *u = work + (n + 1), *v = work + 2 * (n + 1); /* 3 * (n + 1) doubles ... */
    int64_t *k = (int64_t *)(work + 3 * (n + 1));                   /* ... and n + 1 integers */
    out[0] = 0.0;
    out[1] = 0.0;
    c[0] = 0.0;
    k[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        const int ok = h[i] == h[i];
        c[i + 1] = c[i] + (ok ? h[i] : 0.0);
        k[i + 1] = k[i] + ok;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t lo = i - window / 2;
        if (lo < 0) lo = 0;
        if (lo > n) lo = n;
        int64_t hi = lo + window;
        if (hi > n) hi = n;
        const int64_t cnt = k[hi] - k[lo];
        u[i] = h[i] - (cnt > 0 ? (c[hi] - c[lo]) / (double)cnt : NAN);
    }
    if (lag >= n) return;
    int64_t pairs = 0, nv = 0;
    for (int64_t i = 0; i + lag < n; i++) pairs += (u[i] == u[i]) && (u[i + lag] == u[i + lag]);
    if (pairs < (10 > lag / 2 ? 10 : lag / 2)) return;
    for (int64_t i = 0; i < n; i++)
        if (u[i] == u[i]) v[nv++] = u[i];
    /* np.percentile(valid u, [1, 99]) as _percentile_1_99: v stays a permutation of the values, select on all */
    const double vis[2] = {(double)(nv - 1) * (1.0 / 100), (double)(nv - 1) * (99.0 / 100)};
    double q[2];
    for (int a = 0; a < 2; a++) {
        if (vis[a] >= (double)(nv - 1)) {
            q[a] = select_kth(v, 0, nv, nv - 1);
            continue;
        }
        const int64_t lo = (int64_t)floor(vis[a]);
        const double x0 = select_kth(v, 0, nv, lo);
        const double x1 = min_of(v, lo + 1, nv); /* everything right of lo is >= x0: the next order statistic */
        const double t = vis[a] - (double)lo, d = x1 - x0;
        q[a] = t >= 0.5 ? x1 - d * (1 - t) : x0 + d * t; /* numpy's lerp, both branches */
    }
    double sa = 0.0, sb = 0.0, raw_aa = 0.0, raw_bb = 0.0;
    for (int64_t i = 0; i + lag < n; i++) {
        if (!((u[i] == u[i]) && (u[i + lag] == u[i + lag]))) continue;
        const double a = clip(u[i], q[0], q[1]), b = clip(u[i + lag], q[0], q[1]);
        sa += a;
        sb += b;
        raw_aa += a * a;
        raw_bb += b * b;
    }
    const double ma = sa / (double)pairs, mb = sb / (double)pairs;
    double saa = 0.0, sbb = 0.0, sab = 0.0;
    for (int64_t i = 0; i + lag < n; i++) {
        if (!((u[i] == u[i]) && (u[i + lag] == u[i + lag]))) continue;
        const double a = clip(u[i], q[0], q[1]) - ma, b = clip(u[i + lag], q[0], q[1]) - mb;
        saa += a * a;
        sbb += b * b;
        sab += a * b;
    }
    if (!(saa > 1e-12 * raw_aa) || !(sbb > 1e-12 * raw_bb)) { /* the centred sums cancel: no bound */
        out[1] = 1.0;
        return;
    }
    out[0] = sab / sqrt(saa * sbb);
}
