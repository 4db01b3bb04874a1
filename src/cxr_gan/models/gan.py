"""Conditional GANs for grayscale X-rays: the study's dense model and a DCGAN, one training step.

The networks (both generators map (latent vector, class label) to an image in [-1, 1] of shape
(s, s, 1); both discriminators map (image, label) to one logit) are in gan_networks.

Under a tf.distribute strategy with several replicas (build the GAN inside `strategy.scope()`),
the train step follows the tf.distribute custom-training guide: each replica's per-example losses
are summed and divided by the GLOBAL batch size (tf.nn.compute_average_loss), so the gradients the
optimizers all-reduce (sum) across replicas are those of the global batch's mean loss. Generator
BatchNormalization then uses global batch statistics (synchronized=True), replicas draw different
latents (slices of one global-batch draw) and different DiffAugment transforms, and the metrics
are means over all replicas' examples. With one replica, everything is as before.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from cxr_gan.models import gan_networks
from cxr_gan.models.diffaugment import diff_augment
from cxr_gan.models.gan_config import GanConfig


class ConditionalGAN(keras.Model):
    """Generator, discriminator and a moving-average copy of the generator, with the GAN's own
    train_step (non-saturating loss, DiffAugment on both real and fake images).

    The moving average (EMA) copy is what samples: it averages out the oscillation of GAN
    training. It also copies BatchNorm's moving statistics, and must be sampled with
    training=False (sampling it with batch statistics was measured to wash out rib texture).
    """

    def __init__(self, config: GanConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.generator = gan_networks.build_generator(config)
        self.discriminator = gan_networks.build_discriminator(config)
        self.ema_generator = gan_networks.build_generator(config)
        self.ema_generator.set_weights(self.generator.get_weights())
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.ema_updates = keras.Variable(0, dtype="int64", trainable=False, name="ema_updates")
        # LeCam (Tseng et al. 2021): moving averages of D's mean logit on real and fake images
        self.lecam_real = keras.Variable(0.0, trainable=False, aggregation="mean", name="ema_real")
        self.lecam_fake = keras.Variable(0.0, trainable=False, aggregation="mean", name="ema_fake")
        names = ("d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "d_acc_fake", "r1")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.built = True  # its three models are built; fit under a strategy needs no tracing

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs) -> None:
        super().compile(**kwargs)
        config = self.config
        self.d_optimizer = self._loss_scaled(
            d_optimizer or self._adam(config.d_learning_rate or config.learning_rate)
        )
        self.g_optimizer = self._loss_scaled(g_optimizer or self._adam(config.learning_rate))

    def _loss_scaled(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        """Under mixed_float16 (the policy when the GAN was built), the optimizer wrapped in a
        LossScaleOptimizer, as Keras' compile does for its own optimizer: train_step scales
        each loss (optimizer.scale_loss) so float16 gradients do not underflow, and the
        wrapper unscales them and skips steps with inf/NaN. Otherwise the optimizer itself."""
        if self.dtype_policy.name != "mixed_float16" or isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            return optimizer
        return keras.optimizers.LossScaleOptimizer(optimizer)

    def _adam(self, rate: float) -> keras.optimizers.Optimizer:
        return keras.optimizers.Adam(rate, beta_1=self.config.beta_1, beta_2=self.config.beta_2)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        """Nothing to build: the models are built in __init__, the optimizers by
        build_optimizers. Keras' version (run only under a strategy) pulls a batch to build
        from, and under MultiWorkerMirroredStrategy fails averaging it across workers
        ("Attempt to convert a value (PerReplica...) to a Tensor", Keras 3.15)."""

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def _augment(self, images: tf.Tensor) -> tf.Tensor:
        if not self.config.diffaugment:
            return images
        seeds = self.seed_generator
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            seeds = _ReplicaSeedGenerator(seeds, context.replica_id_in_sync_group)
        return diff_augment(images, seeds, self.config.diffaugment_policy)

    def _latent(self, batch: tf.Tensor, offset: tf.Tensor | None, global_batch: tf.Tensor):
        """This replica's latents: its rows of one draw for the global batch, so replicas never
        share a latent and the global batch sees the draw a single device would."""
        if offset is None:  # one replica: the draw a single device always made
            return keras.random.normal((batch, self.config.latent_dim), seed=self.seed_generator)
        latent = keras.random.normal(
            (global_batch, self.config.latent_dim), seed=self.seed_generator
        )
        return latent[offset : offset + batch]

    def train_step(self, data):
        real_images, labels = data
        labels = tf.reshape(tf.cast(labels, tf.int32), (-1, 1))
        batch = tf.shape(real_images)[0]
        offset, global_batch = None, batch
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # the real count, not replicas x batch: the last batch of an epoch can be short
            # and unevenly split
            sizes = context.all_gather(tf.reshape(batch, (1,)), axis=0)
            global_batch = tf.reduce_sum(sizes)
            offset = tf.reduce_sum(sizes[: context.replica_id_in_sync_group])

        def average(per_example: tf.Tensor) -> tf.Tensor:
            return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

        latent = self._latent(batch, offset, global_batch)
        with tf.GradientTape() as tape:
            fake_images = self.generator([latent, labels], training=True)
            augmented_real = self._augment(real_images)
            real_logits = self.discriminator([augmented_real, labels], training=True)
            fake_logits = self.discriminator([self._augment(fake_images), labels], training=True)
            d_losses = self._d_losses(real_logits[:, 0], fake_logits[:, 0])
            d_loss = average(d_losses)
            # the loss itself, except under mixed precision (see _loss_scaled)
            scaled = self.d_optimizer.scale_loss(d_loss)
        gradients = tape.gradient(scaled, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(
            zip(gradients, self.discriminator.trainable_weights, strict=True)
        )
        self._update_lecam(real_logits, fake_logits)
        r1 = self._lazy_r1(augmented_real, labels, average)

        latent = self._latent(batch, offset, global_batch)
        g_labels = self._paired_labels(labels)
        with tf.GradientTape() as tape:
            generated = self.generator([latent, g_labels], training=True)
            logits = self.discriminator([self._augment(generated), g_labels], training=True)
            g_losses = self._g_losses(logits[:, 0]) + self._mode_seeking(latent, generated)
            g_losses += self._imle(real_images, labels)
            g_loss = average(g_losses)
            scaled = self.g_optimizer.scale_loss(g_loss)
        gradients = tape.gradient(scaled, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(
            zip(gradients, self.generator.trainable_weights, strict=True)
        )
        self._update_ema()

        # per-example values: the Mean trackers (summed over replicas when read) then give the
        # mean over every example of the epoch, whatever the number of replicas
        real_scores, fake_scores = tf.sigmoid(real_logits[:, 0]), tf.sigmoid(fake_logits[:, 0])
        values = {
            "d_loss": d_losses,
            "g_loss": g_losses,
            "d_real": real_scores,
            "d_fake": fake_scores,
            "d_acc_real": tf.cast(real_scores > 0.5, tf.float32),
            "d_acc_fake": tf.cast(fake_scores < 0.5, tf.float32),
            "r1": tf.fill(tf.shape(real_scores), r1),
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 averages a step's logs across workers with reduce(MEAN, axis=0),
            # which fails on scalars; the epoch's history reads the trackers themselves
            results = {name: tf.reshape(value, (1,)) for name, value in results.items()}
        return results

    def _d_losses(self, real: tf.Tensor, fake: tf.Tensor) -> tf.Tensor:
        """Per-example discriminator loss on logits (batch,): non-saturating BCE or hinge, plus
        the LeCam term, which keeps D's outputs near the other side's moving average and so
        stops D from separating ~100 images with ever larger margins (Tseng et al. 2021)."""
        if self.config.loss == "hinge":
            losses = tf.nn.relu(1.0 - real) + tf.nn.relu(1.0 + fake)
        else:
            losses = tf.nn.softplus(-real) + tf.nn.softplus(fake)
        if self.config.lecam_weight > 0:
            lecam = tf.square(tf.nn.relu(real - self.lecam_fake)) + tf.square(
                tf.nn.relu(self.lecam_real - fake)
            )
            losses += self.config.lecam_weight * lecam
        return losses

    def _g_losses(self, fake: tf.Tensor) -> tf.Tensor:
        return -fake if self.config.loss == "hinge" else tf.nn.softplus(-fake)

    def _paired_labels(self, labels: tf.Tensor) -> tf.Tensor:
        """Labels for the generator's step: with the mode-seeking term on, the second half of
        the batch repeats the first half's labels, so each (first half, second half) pair is one
        class with two latents, as in MSGAN. Mixed-class pairs would let the generator meet the
        term by making the two classes differ instead of varying within each class."""
        if self.config.mode_seeking_weight <= 0:
            return labels
        half = tf.shape(labels)[0] // 2
        return tf.concat([labels[:half], labels[:half], labels[2 * half :]], axis=0)

    def _mode_seeking(self, latent: tf.Tensor, images: tf.Tensor) -> tf.Tensor:
        """Mode-seeking term (Mao et al. 2019, MSGAN): 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2|)
        over the pairs (first half, second half) of this batch, which share their class
        (`_paired_labels`), the same value for each example: a generator that maps different
        latents to one image pays for it."""
        if self.config.mode_seeking_weight <= 0:
            return tf.constant(0.0)
        half = tf.shape(images)[0] // 2
        image_gap = tf.reduce_mean(tf.abs(images[:half] - images[half : 2 * half]))
        latent_gap = tf.reduce_mean(tf.abs(latent[:half] - latent[half : 2 * half]))
        return self.config.mode_seeking_weight / (image_gap / (latent_gap + 1e-8) + 1e-5)

    def _imle(self, real_images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """Per-example IMLE term (Li & Malik 2018, "Implicit Maximum Likelihood Estimation"):
        for each real image, `imle_samples` images of its class from fresh latents; the nearest
        one (L1 between imle_pool x imle_pool average-pooled images, i.e. layout and contrast
        rather than pixels) is pulled towards it. An adversarial generator may drop most
        training images (mode collapse); this term makes every one of them have a generated
        image nearby. Pooling keeps it from asking for pixel copies."""
        config = self.config
        if config.imle_weight <= 0:
            return tf.constant(0.0)
        batch, k = tf.shape(real_images)[0], config.imle_samples
        latent = keras.random.normal((batch * k, config.latent_dim), seed=self.seed_generator)
        repeated = tf.repeat(labels, k, axis=0)
        candidates = self.generator([latent, repeated], training=True)
        pool = config.imle_pool
        coarse = tf.nn.avg_pool2d(candidates, pool, pool, "VALID")
        target = tf.nn.avg_pool2d(real_images, pool, pool, "VALID")
        coarse = tf.reshape(coarse, (batch, k, -1))
        target = tf.reshape(target, (batch, 1, -1))
        distances = tf.reduce_mean(tf.abs(coarse - target), axis=-1)  # (batch, k)
        return config.imle_weight * tf.reduce_min(distances, axis=1)

    def _update_lecam(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> None:
        if self.config.lecam_weight > 0:
            self.lecam_real.assign(0.99 * self.lecam_real + 0.01 * tf.reduce_mean(real_logits))
            self.lecam_fake.assign(0.99 * self.lecam_fake + 0.01 * tf.reduce_mean(fake_logits))

    def _lazy_r1(self, real_images: tf.Tensor, labels: tf.Tensor, average) -> tf.Tensor:
        """R1 (Mescheder et al. 2018): gamma/2 |grad_x D(x)|^2 on real images, applied every
        r1_every steps with its weight scaled by r1_every (lazy regularisation, StyleGAN2).
        Returns this step's mean penalty (0 on steps without it)."""
        config = self.config
        if config.r1_gamma <= 0:
            return tf.constant(0.0)

        def penalise() -> tf.Tensor:
            # a tensor of this branch's own graph: watching the outer one would watch a tensor
            # that the branch only sees through a capture, and give no gradient
            images = tf.identity(real_images)
            with tf.GradientTape() as tape:
                with tf.GradientTape() as inner:
                    inner.watch(images)
                    logits = self.discriminator([images, labels], training=True)
                slopes = inner.gradient(logits, images)  # of the sum over the batch
                penalty = tf.reduce_sum(tf.square(slopes), axis=[1, 2, 3])
                loss = average(0.5 * config.r1_gamma * config.r1_every * penalty)
                scaled = self.d_optimizer.scale_loss(loss)
            weights = self.discriminator.trainable_weights
            gradients = tape.gradient(scaled, weights)
            # the last layer's bias does not change the slope: it has no gradient here
            self.d_optimizer.apply_gradients(
                [(g, w) for g, w in zip(gradients, weights, strict=True) if g is not None]
            )
            return tf.reduce_mean(penalty)

        due = tf.equal(self.ema_updates % config.r1_every, 0)
        return tf.cond(due, penalise, lambda: tf.constant(0.0))

    def _update_ema(self) -> None:
        """EMA of trainable weights with a warm-up (decay grows as (1+t)/(10+t)) so short runs
        are not dominated by the random initial weights; moving statistics are copied."""
        self.ema_updates.assign_add(1)
        steps = tf.cast(self.ema_updates, tf.float32)
        decay = tf.minimum(self.config.ema_decay, (1.0 + steps) / (10.0 + steps))
        for average, live in zip(
            self.ema_generator.trainable_weights, self.generator.trainable_weights, strict=True
        ):
            average.assign(decay * average + (1.0 - decay) * live)
        for average, live in zip(
            self.ema_generator.non_trainable_weights,
            self.generator.non_trainable_weights,
            strict=True,
        ):
            average.assign(live)

    def state_variables(self) -> list[keras.Variable]:
        """Every variable a checkpoint must hold to resume exactly: the three models, both
        optimizers, the random-number state and the EMA step count. Under mixed precision the
        loss scale is left out: a checkpoint then resumes in either precision (the scale starts
        again from its initial value and adapts within a few steps)."""
        return [
            *self.generator.variables,
            *self.discriminator.variables,
            *self.ema_generator.variables,
            *_unscaled(self.d_optimizer).variables,
            *_unscaled(self.g_optimizer).variables,
            self.seed_generator.state,
            self.ema_updates,
            self.lecam_real,
            self.lecam_fake,
        ]

    def build_optimizers(self) -> None:
        """Create optimizer slots up front, so a checkpoint can be restored before any step."""
        self.d_optimizer.build(self.discriminator.trainable_weights)
        self.g_optimizer.build(self.generator.trainable_weights)

    def sample(self, latent, labels, use_ema: bool = True) -> tf.Tensor:
        """Images in [-1, 1] for the given latents and labels, in inference mode."""
        model = self.ema_generator if use_ema else self.generator
        latent = tf.convert_to_tensor(latent, tf.float32)
        labels = tf.reshape(tf.cast(labels, tf.int32), (-1, 1))
        return model([latent, labels], training=False)


def _unscaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer inside a LossScaleOptimizer, or the optimizer itself."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


class _ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A view of a SeedGenerator whose seeds are folded with the replica id: every replica
    advances the shared (mirrored) state identically, but draws its own DiffAugment transforms:
    independent per-replica draws, statistically like one device's for the whole batch but not
    the same values. Holds no state of its own."""

    def __init__(self, base: keras.random.SeedGenerator, replica_id) -> None:
        # no super().__init__(): it would create a second state variable inside train_step
        self.base = base
        self.replica_id = replica_id

    def next(self, ordered: bool = True) -> tf.Tensor:
        seed = self.base.next(ordered)
        folded = tf.random.experimental.stateless_fold_in(
            tf.cast(seed, tf.int64), tf.cast(self.replica_id, tf.int32)
        )
        return tf.cast(folded, seed.dtype)
