import { expect } from 'chai';
import { MavenDownloadProgress } from '../../scripts/maven-progress.js';

describe('progress of the first fetch of the Kafka jars', () => {
  it('counts the files and bytes Maven reports downloaded, ignoring every other line', () => {
    const progress = new MavenDownloadProgress();
    const lines = [
      '[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/3.9.1/kafka_2.13-3.9.1.jar',
      '[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/maven/plugins/maven-clean-plugin/2.5/maven-clean-plugin-2.5.pom (3.9 kB at 6.7 kB/s)',
      '\u001b[0m[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/3.9.1/kafka_2.13-3.9.1.jar (6.5 MB at 12 MB/s)\u001b[0m',
      '[INFO] Copying kafka_2.13-3.9.1.jar to /tmp/libs/kafka_2.13-3.9.1.jar',
      '[INFO] BUILD SUCCESS',
    ];
    expect(lines.map((line) => progress.read(line))).to.deep.equal([false, true, true, false, false]);
    expect(progress.files).to.equal(2);
    expect(progress.bytes).to.equal(3900 + 6_500_000);
    expect(progress.describe()).to.equal('2 files (6.5 MB) downloaded from Maven Central');
  });
});
