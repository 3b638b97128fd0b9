//! Optimisers (Adam with decoupled weight decay, SGD with momentum) and learning-rate
//! schedules (constant or cosine, each with optional linear warm-up).
//!
//! Optimiser state is kept per parameter in the order a [`Module`] visits them, which is
//! stable; a step applies the gradients and zeroes them.

use crate::train::float::Float;
use crate::train::tensor::{Module, Param};

/// Learning rate as a function of the step number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The base rate throughout (after warm-up).
    Constant,
    /// Cosine decay from the base rate to `min_factor × base` over `total` steps.
    Cosine {
        /// Steps over which to decay.
        total: usize,
        /// Final rate as a fraction of the base rate.
        min_factor: f64,
    },
}

/// A schedule with a linear warm-up from `base/warmup` to `base` over `warmup` steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSchedule {
    /// The peak learning rate.
    pub base: f64,
    /// Warm-up steps (0 for none).
    pub warmup: usize,
    /// What follows warm-up.
    pub kind: Schedule,
}

impl LrSchedule {
    /// The learning rate at 0-based `step`.
    pub fn at(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.base * (step + 1) as f64 / self.warmup as f64;
        }
        match self.kind {
            Schedule::Constant => self.base,
            Schedule::Cosine { total, min_factor } => {
                let span = total.saturating_sub(self.warmup).max(1);
                let p = ((step - self.warmup) as f64 / span as f64).min(1.0);
                let f = min_factor
                    + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
                self.base * f
            }
        }
    }
}

/// Adam with decoupled weight decay (AdamW).
#[derive(Clone, Debug)]
pub struct Adam<F> {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator floor.
    pub eps: f64,
    /// Decoupled weight decay, applied as `w -= lr·wd·w`.
    pub weight_decay: f64,
    step: u64,
    state: Vec<(Vec<F>, Vec<F>)>,
}

impl<F: Float> Adam<F> {
    /// β = (0.9, 0.999), eps 1e-8.
    pub fn new(weight_decay: f64) -> Self {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            state: Vec::new(),
        }
    }

    /// Applies one update with learning rate `lr` and zeroes the gradients.
    pub fn step(&mut self, module: &mut dyn Module<F>, lr: f64) {
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        let (eps, wd) = (self.eps, self.weight_decay);
        let state = &mut self.state;
        let mut idx = 0;
        module.visit_params("", &mut |_, p: &mut Param<F>| {
            if state.len() <= idx {
                state.push((
                    vec![F::ZERO; p.value.numel()],
                    vec![F::ZERO; p.value.numel()],
                ));
            }
            let (m, v) = &mut state[idx];
            let grad = p.grad.data();
            for (((w, g), mi), vi) in p
                .value
                .data_mut()
                .iter_mut()
                .zip(grad)
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                let gf = g.to_f64();
                let mf = b1 * mi.to_f64() + (1.0 - b1) * gf;
                let vf = b2 * vi.to_f64() + (1.0 - b2) * gf * gf;
                *mi = F::from_f64(mf);
                *vi = F::from_f64(vf);
                let wf = w.to_f64();
                let upd = lr * ((mf / c1) / ((vf / c2).sqrt() + eps) + wd * wf);
                *w = F::from_f64(wf - upd);
            }
            p.grad.fill_zero();
            idx += 1;
        });
    }
}

/// SGD with (heavy-ball) momentum and optional L2 weight decay.
#[derive(Clone, Debug)]
pub struct Sgd<F> {
    /// Momentum coefficient (0 for plain SGD).
    pub momentum: f64,
    /// Weight decay added to the gradient.
    pub weight_decay: f64,
    state: Vec<Vec<F>>,
}

impl<F: Float> Sgd<F> {
    /// SGD with the given momentum and weight decay.
    pub fn new(momentum: f64, weight_decay: f64) -> Self {
        Sgd {
            momentum,
            weight_decay,
            state: Vec::new(),
        }
    }

    /// `v = μv + g + wd·w`, `w -= lr·v`; zeroes the gradients.
    pub fn step(&mut self, module: &mut dyn Module<F>, lr: f64) {
        let (mu, wd) = (self.momentum, self.weight_decay);
        let state = &mut self.state;
        let mut idx = 0;
        module.visit_params("", &mut |_, p: &mut Param<F>| {
            if state.len() <= idx {
                state.push(vec![F::ZERO; p.value.numel()]);
            }
            let vel = &mut state[idx];
            let grad = p.grad.data();
            for ((w, g), v) in p.value.data_mut().iter_mut().zip(grad).zip(vel.iter_mut()) {
                let vf = mu * v.to_f64() + g.to_f64() + wd * w.to_f64();
                *v = F::from_f64(vf);
                *w = F::from_f64(w.to_f64() - lr * vf);
            }
            p.grad.fill_zero();
            idx += 1;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::tensor::Tensor;

    struct Quad(Param<f64>);
    impl Module<f64> for Quad {
        fn visit_params(&mut self, _: &str, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
            f("w", &mut self.0);
        }
    }

    fn minimise(mut opt: impl FnMut(&mut Quad), steps: usize) -> f64 {
        // f(w) = Σ (w_i − i)², minimum at w = (0, 1, 2).
        let mut q = Quad(Param::new(Tensor::full(&[3], 5.0)));
        for _ in 0..steps {
            let g: Vec<f64> =
                q.0.value
                    .data()
                    .iter()
                    .enumerate()
                    .map(|(i, w)| 2.0 * (w - i as f64))
                    .collect();
            q.0.grad.data_mut().copy_from_slice(&g);
            opt(&mut q);
        }
        q.0.value
            .data()
            .iter()
            .enumerate()
            .map(|(i, w)| (w - i as f64).powi(2))
            .sum()
    }

    #[test]
    fn adam_and_sgd_minimise_a_quadratic() {
        let mut adam = Adam::new(0.0);
        assert!(minimise(|q| adam.step(q, 0.1), 500) < 1e-4);
        let mut sgd = Sgd::new(0.9, 0.0);
        assert!(minimise(|q| sgd.step(q, 0.01), 500) < 1e-6);
        // Weight decay pulls the optimum toward zero: the loss stays away from zero.
        let mut adamw = Adam::new(0.5);
        assert!(minimise(|q| adamw.step(q, 0.05), 500) > 0.1);
    }

    #[test]
    fn schedules() {
        let s = LrSchedule {
            base: 1.0,
            warmup: 4,
            kind: Schedule::Cosine {
                total: 14,
                min_factor: 0.0,
            },
        };
        assert!((s.at(0) - 0.25).abs() < 1e-12);
        assert!((s.at(3) - 1.0).abs() < 1e-12);
        assert!((s.at(4) - 1.0).abs() < 1e-12);
        assert!((s.at(9) - 0.5).abs() < 1e-12);
        assert!(s.at(14).abs() < 1e-12 && s.at(100).abs() < 1e-12);
        let c = LrSchedule {
            base: 0.3,
            warmup: 0,
            kind: Schedule::Constant,
        };
        assert_eq!(c.at(0), 0.3);
        assert_eq!(c.at(1000), 0.3);
    }
}
