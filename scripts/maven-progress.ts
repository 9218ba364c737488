/**
 * Progress of a Maven run that downloads artifacts, read from its batch-mode output ("Downloaded from central:
 * <url> (6.0 MB at 12 MB/s)"): the first fetch of the Kafka jars takes a while, and the user sees it moving.
 */
export class MavenDownloadProgress {
  files = 0;
  bytes = 0;

  /** Reads one output line; true when it was a finished download. */
  read(line: string): boolean {
    const plain = line.replace(/\x1b\[[0-9;]*m/g, '').trim();
    const match = /^\[INFO\] Downloaded from [^:]+: (\S+) \(([\d.]+) (B|kB|KB|MB|GB)/.exec(plain);
    if (!match) return false;
    const unit = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9 }[match[3] as 'B' | 'kB' | 'KB' | 'MB' | 'GB'];
    this.files += 1;
    this.bytes += Number(match[2]) * unit;
    return true;
  }

  describe(): string {
    return `${this.files} file${this.files === 1 ? '' : 's'} (${(this.bytes / 1e6).toFixed(1)} MB) downloaded from Maven Central`;
  }
}
