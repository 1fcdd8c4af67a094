import { describe, expect, it } from 'vitest';
import { isCpuAdapter, type AdapterDescription } from '../src/gpu/device.js';
import { QueueWaiter } from '../src/gpu/queueWait.js';
import { testGpu } from './helpers/env.js';

/** A queue whose work takes `workMs` after each call to `submit()`; records when completion was first asked for. */
class FakeQueue {
  private doneAt = 0;
  askedAt: number[] = [];
  constructor(public workMs: number) {}
  submit(): void {
    this.doneAt = performance.now() + this.workMs;
  }
  onSubmittedWorkDone(): Promise<undefined> {
    const now = performance.now();
    this.askedAt.push(now);
    return new Promise((resolve) => setTimeout(() => resolve(undefined), Math.max(0, this.doneAt - now)));
  }
}

const asQueue = (q: FakeQueue) => q as unknown as GPUQueue;

describe('QueueWaiter', () => {
  it('asks for completion at once when waits do not compete with the shaders', async () => {
    const queue = new FakeQueue(60);
    const waiter = new QueueWaiter(asQueue(queue), false);
    for (let k = 0; k < 3; k++) {
      queue.submit();
      const start = performance.now();
      await waiter.wait();
      expect(queue.askedAt[k] - start).toBeLessThan(15);
    }
  });

  it('sleeps through most of the previous duration before asking, and still waits for the end', async () => {
    const queue = new FakeQueue(120);
    const waiter = new QueueWaiter(asQueue(queue), true);
    const asked: number[] = [];
    const took: number[] = [];
    for (let k = 0; k < 4; k++) {
      queue.submit();
      const start = performance.now();
      await waiter.wait();
      took.push(performance.now() - start);
      asked.push(queue.askedAt[k] - start);
    }
    // The first two waits have too little to go by (the first one often includes shader compilation); later ones
    // sleep about 85 % of the shortest recent duration (~100 ms) first.
    expect(asked[0]).toBeLessThan(15);
    expect(asked[1]).toBeLessThan(15);
    for (const a of asked.slice(2)) expect(a).toBeGreaterThan(70);
    // Never ends before the work: every wait lasts at least the work's 120 ms (timers may fire a little early).
    for (const t of took) expect(t).toBeGreaterThan(115);
  });

  it('a series primed with a compile-free wait (knownBeforeSleep: 1) sleeps from its second wait on', async () => {
    const queue = new FakeQueue(100);
    const waiter = new QueueWaiter(asQueue(queue), true, undefined, { knownBeforeSleep: 1 });
    const asked: number[] = [];
    for (let k = 0; k < 3; k++) {
      queue.submit();
      const start = performance.now();
      await waiter.wait();
      asked.push(queue.askedAt[k] - start);
    }
    expect(asked[0]).toBeLessThan(15);
    expect(asked[1]).toBeGreaterThan(60);
    expect(asked[2]).toBeGreaterThan(60);
  });

  it('one long wait (a paused process, a busy machine) does not lengthen the sleeps that follow', async () => {
    const queue = new FakeQueue(0);
    const waiter = new QueueWaiter(asQueue(queue), true);
    for (const ms of [40, 40, 400, 40]) {
      queue.workMs = ms;
      queue.submit();
      await waiter.wait();
    }
    expect(waiter.nextSleepMs).toBeGreaterThan(30);
    expect(waiter.nextSleepMs).toBeLessThan(40);
  });

  it("ends a wait with the guard's error (device loss) even while sleeping", async () => {
    const queue = new FakeQueue(50);
    const lost = new Error('The GPU device was lost (destroyed).');
    let isLost = false;
    const waiter = new QueueWaiter(asQueue(queue), true, (work) => (isLost ? Promise.reject(lost) : work));
    queue.submit();
    await waiter.wait();
    isLost = true;
    queue.submit();
    await expect(waiter.wait()).rejects.toBe(lost);
  });
});

describe('isCpuAdapter', () => {
  const base: AdapterDescription = { vendor: '', architecture: '', device: '', description: '', features: [], limits: {} };
  it('recognises Mesa lavapipe and SwiftShader, not a discrete GPU', () => {
    expect(isCpuAdapter({ ...base, vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-' })).toBe(true);
    expect(isCpuAdapter({ ...base, vendor: 'google', description: 'SwiftShader Device (Subzero)' })).toBe(true);
    expect(isCpuAdapter({ ...base, vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })).toBe(false);
  });

  it('the Node device on this machine says whether its waits compete with the shaders', async () => {
    const gpu = await testGpu();
    expect(gpu.context.waitsCompeteWithShaders).toBe(isCpuAdapter(gpu.context.adapterInfo));
  });
});
