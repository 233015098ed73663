// The user directory the README's snippets import as './users.js' ("your user directory"), in
// every consumer project. Compiled to CommonJS or ESM to suit the project.
export interface AppUser {
  id: string;
  name: string;
  username: string;
  passwordHash: string;
  phone: string;
  email: string;
  secsignId: string;
  xigninSub: string;
}

export const PASSWORD = 'correct horse battery staple';
const alice: AppUser = {
  id: 'u1',
  name: 'Alice',
  username: 'alice',
  // What a real record holds; a snippet that answers the whole record leaks it (the driver checks).
  passwordHash: 'scrypt$N=16384$c2FsdA$not-a-real-hash',
  phone: '+4915790000001',
  email: 'alice@example.com',
  secsignId: 'alice',
  xigninSub: 'xign-7f3a1c', // the sandbox's demo user alice
};

export const users = {
  async checkPassword(username: string, password: string): Promise<AppUser | false> {
    return username === alice.username && password === PASSWORD ? alice : false;
  },
  findById(id: string): AppUser | undefined {
    return id === alice.id ? alice : undefined;
  },
  async findByXignInSub(sub: string): Promise<AppUser | false> {
    return sub === alice.xigninSub ? alice : false;
  },
  async findByEmail(email: string): Promise<AppUser | undefined> {
    return email.toLowerCase() === alice.email ? alice : undefined;
  },
  async findBySecSignId(secsignId: string): Promise<AppUser | false> {
    return secsignId === alice.secsignId ? alice : false;
  },
};
