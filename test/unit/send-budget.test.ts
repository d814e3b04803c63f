import { SendBudget } from '../../src/xds/send-budget.js';
import { SubscriptionPool } from '../../src/xds/subscription-pool.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SendBudget', () => {
  it('lets responses out at once while there is room', () => {
    const budget = new SendBudget(1000);
    expect(budget.whenOpen()).toBeUndefined();
    budget.written(999);
    expect(budget.exhausted).toBe(false);
    expect(budget.whenOpen()).toBeUndefined();
  });

  it('queues turns past the bound and lets them go one by one, first come first served, as bytes flush', async () => {
    const budget = new SendBudget(1000);
    const first = budget.written(600);
    const second = budget.written(600);
    expect(budget.exhausted).toBe(true);
    const order: string[] = [];
    void budget.whenOpen()!.then(() => order.push('a'));
    void budget.whenOpen()!.then(() => order.push('b'));
    expect(budget.waiting).toBe(2);
    await tick();
    expect(order).toEqual([]);

    budget.flushed(first);
    await tick();
    expect(order).toEqual(['a']);
    // 'a' wrote nothing (an ACK): ending its turn lets the next one go.
    budget.next();
    await tick();
    expect(order).toEqual(['a', 'b']);
    budget.flushed(second);
    expect(budget.inFlight).toBe(0);
  });

  it('a newcomer waits behind earlier waiters even when there is room', async () => {
    const budget = new SendBudget(1000);
    const ticket = budget.written(1000);
    const order: string[] = [];
    void budget.whenOpen()!.then(() => order.push('first'));
    void budget.whenOpen()!.then(() => order.push('second'));
    budget.flushed(ticket);
    const late = budget.whenOpen();
    expect(late).toBeDefined();
    void late!.then(() => order.push('late'));
    await tick();
    budget.next();
    await tick();
    budget.next();
    await tick();
    expect(order).toEqual(['first', 'second', 'late']);
  });

  it('writes off bytes that stopped moving, so clients that do not read cannot hold the others', async () => {
    const budget = new SendBudget(1000, 50);
    const stuck = budget.written(5000);
    let served = false;
    void budget.whenOpen()!.then(() => {
      served = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(served).toBe(true);
    expect(budget.inFlight).toBe(0);
    // The stuck write flushing late does not take its bytes off twice.
    const fresh = budget.written(300);
    budget.flushed(stuck);
    expect(budget.inFlight).toBe(300);
    budget.flushed(fresh);
    expect(budget.inFlight).toBe(0);
    budget.close();
  });

  it('no bound when the limit is 0', () => {
    const budget = new SendBudget(0);
    budget.written(10 ** 12);
    expect(budget.exhausted).toBe(false);
    expect(budget.whenOpen()).toBeUndefined();
  });

  it('close wakes every waiter (shutdown)', async () => {
    const budget = new SendBudget(10);
    budget.written(10);
    let woken = 0;
    void budget.whenOpen()!.then(() => woken++);
    void budget.whenOpen()!.then(() => woken++);
    budget.close();
    await tick();
    expect(woken).toBe(2);
  });
});

describe('SubscriptionPool', () => {
  const keep = (name: string) => name;

  it('hands streams asking for the same names the same frozen subscription, with the canonical strings', () => {
    const pool = new SubscriptionPool();
    const canonical = new Map([
      ['a', 'a'],
      ['b', 'b'],
    ]);
    const one = pool.get('eds', ['a', 'b'], false, (name) => canonical.get(name) ?? name);
    const two = pool.get(
      'eds',
      ['a', 'b'].map((n) => `${n}`),
      false,
      keep,
    );
    expect(two).toBe(one);
    expect([...one.set]).toEqual(['a', 'b']);
    expect(one.list).toEqual(['a', 'b']);
  });

  it('keeps different lists, types and wildcard handling apart', () => {
    const pool = new SubscriptionPool();
    const base = pool.get('eds', ['a', 'b'], false, keep);
    expect(pool.get('eds', ['b', 'a'], false, keep)).not.toBe(base);
    expect(pool.get('rds', ['a', 'b'], false, keep)).not.toBe(base);
    const withStar = pool.get('cds', ['*', 'x'], true, keep);
    expect([...withStar.set]).toEqual(['x']);
    expect(withStar.list).toEqual(['*', 'x']);
    expect([...pool.get('eds', ['*', 'x'], false, keep).set]).toEqual(['*', 'x']);
  });

  it('names containing the separator never share a subscription with a different list', () => {
    const pool = new SubscriptionPool();
    const joined = pool.get('eds', ['a\nb'], false, keep);
    const split = pool.get('eds', ['a', 'b'], false, keep);
    expect(split).not.toBe(joined);
    expect([...split.set]).toEqual(['a', 'b']);
    expect([...joined.set]).toEqual(['a\nb']);
  });
});
